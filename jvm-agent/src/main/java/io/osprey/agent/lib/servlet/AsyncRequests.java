package io.osprey.agent.lib.servlet;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Servlet requests that go asynchronous ({@code startAsync}): when the container's entry point
 * returns with the request still open, its transaction is detached from the thread and ends when
 * the container completes the request, on whatever thread that happens, with the final status and
 * the error the async work reported. A dispatch back into the container ({@code
 * AsyncContext.dispatch}) attaches the transaction again, so the dispatched servlet's steps join
 * it.
 *
 * <p>The completion is seen through an {@code AsyncListener} (javax or jakarta, whichever the
 * request's {@code AsyncContext} takes) implemented by a {@link Proxy} in the application's class
 * loader, so this boot-class-path class needs no servlet API. The parked transaction is found
 * again through a request attribute holding the {@link Parked} handler. Nothing here throws.
 */
public final class AsyncRequests {
    /** The request attribute naming the parked transaction. */
    static final String ATTRIBUTE = "io.osprey.agent.async";

    private AsyncRequests() {}

    /**
     * At the exit of the container's entry point: when {@code request} went asynchronous (or is a
     * dispatch of a parked request: {@code resumed}), detaches this thread's transaction and
     * registers for its completion. True when the transaction was parked (the caller must not end
     * it); false to end it now.
     */
    static boolean park(Object request, Servers.Accessors a, boolean resumed) {
        if (resumed) {
            // A dispatch of a request parked before: park again, the listener ends it.
            Object existing = a.call(a.attribute, request, ATTRIBUTE);
            return existing instanceof Parked && ((Parked) existing).park();
        }
        if (a.asyncStarted == null || !Boolean.TRUE.equals(a.call(a.asyncStarted, request, null))) {
            return false;
        }
        Object context = a.call(a.asyncContext, request, null);
        if (context == null) {
            return false;
        }
        Parked parked = new Parked();
        if (!parked.park()) {
            return false;
        }
        try {
            if (parked.listenTo(context) && a.setAttribute != null) {
                a.setAttribute.invoke(request, ATTRIBUTE, parked);
                return true;
            }
        } catch (Throwable ignored) {
            // fall through: end it now
        }
        parked.unpark();
        return false;
    }

    /**
     * At the entry of the container's entry point: when {@code request} is a dispatch of a parked
     * request, attaches its transaction to this thread and returns true.
     */
    static boolean resume(Object request, Servers.Accessors a) {
        Object existing = a.call(a.attribute, request, ATTRIBUTE);
        return existing instanceof Parked && ((Parked) existing).unpark();
    }

    /** One parked transaction and the listener that ends it. */
    static final class Parked implements InvocationHandler {
        /** The detached transaction's id; 0 while attached to a thread or ended. */
        private long id;
        /** What the transaction continued from its caller, restored with it on a dispatch. */
        private TraceContext context;
        private boolean ended;
        private Throwable error;
        private boolean timedOut;
        /**
         * The request completed while its transaction was attached to a thread (Tomcat completes
         * a dispatched request inside the dispatch): that thread's exit ends it.
         */
        private boolean completedAttached;

        /**
         * Detaches this thread's transaction into this handler; false when it is to end now (also
         * when the request completed meanwhile: the caller ends it, with the error the listener
         * saw recorded here).
         */
        synchronized boolean park() {
            if (completedAttached && !ended && id == 0L) {
                ended = true;
                if (error != null) {
                    Osprey.recordError(-1L, error);
                }
                return false;
            }
            if (ended || id != 0L) {
                return false;
            }
            long detached = OspreyNative.detach();
            if (detached <= 0L) {
                return false;
            }
            id = detached;
            context = TraceContext.current();
            return true;
        }

        /** Attaches the parked transaction to this thread (which has none). */
        synchronized boolean unpark() {
            if (id == 0L) {
                return false;
            }
            long previous = OspreyNative.attach(id);
            if (previous < 0L) {
                id = 0L;
                return false;
            }
            id = 0L;
            if (previous > 0L) {
                // The thread has a transaction of its own: put both back as they were.
                long again = OspreyNative.attach(previous);
                id = again > 0L ? again : 0L;
                return false;
            }
            TraceContext.set(context);
            return true;
        }

        boolean listenTo(Object context) throws Exception {
            for (Method m : context.getClass().getMethods()) {
                if (m.getName().equals("addListener") && m.getParameterTypes().length == 1
                        && m.getParameterTypes()[0].isInterface()) {
                    Class<?> listener = m.getParameterTypes()[0];
                    Object proxy = Proxy.newProxyInstance(listener.getClassLoader(), new Class<?>[] {listener}, this);
                    m.invoke(context, proxy);
                    return true;
                }
            }
            return false;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) {
            String name = method.getName();
            Object event = args != null && args.length == 1 ? args[0] : null;
            try {
                if (name.equals("onComplete")) {
                    end(event);
                } else if (name.equals("onError")) {
                    synchronized (this) {
                        Object thrown = Servers.call(event, "getThrowable");
                        error = thrown instanceof Throwable ? (Throwable) thrown : error;
                    }
                } else if (name.equals("onTimeout")) {
                    synchronized (this) {
                        timedOut = true;
                    }
                } else if (name.equals("onStartAsync")) {
                    // startAsync again: the new context needs the listener again.
                    Object context = Servers.call(event, "getAsyncContext");
                    if (context != null) {
                        listenTo(context);
                    }
                } else if (name.equals("hashCode")) {
                    return System.identityHashCode(proxy);
                } else if (name.equals("equals")) {
                    return proxy == event;
                } else if (name.equals("toString")) {
                    return "osprey async listener";
                }
            } catch (Throwable ignored) {
                // never into the container
            }
            return null;
        }

        /** The request completed: attach, record the outcome, end, restore this thread's own. */
        private void end(Object event) {
            long detached;
            Throwable thrown;
            boolean timeout;
            synchronized (this) {
                if (ended) {
                    return;
                }
                if (id == 0L) {
                    // Attached to the thread running a dispatch: its exit ends it.
                    completedAttached = true;
                    return;
                }
                ended = true;
                detached = id;
                id = 0L;
                thrown = error;
                timeout = timedOut;
            }
            long previous = OspreyNative.attach(detached);
            if (previous < 0L) {
                return;
            }
            try {
                Servers.outcome(Servers.call(event, "getSuppliedResponse"), thrown, timeout, false);
                OspreyNative.end();
            } finally {
                if (previous > 0L) {
                    OspreyNative.attach(previous);
                }
            }
        }
    }
}
