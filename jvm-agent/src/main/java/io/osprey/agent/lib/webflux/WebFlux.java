package io.osprey.agent.lib.webflux;

import io.osprey.agent.bootstrap.Endpoints;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.lib.reactor.Carrier;
import io.osprey.agent.lib.servlet.Routes;
import io.osprey.agent.lib.servlet.Servers;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Map;

/**
 * Server transactions of Spring WebFlux (any server: Reactor Netty, or a servlet container
 * through WebFlux's adapter when no servlet transaction is open). {@code
 * HttpWebHandlerAdapter.handle(request, response)} begins a SERVER transaction named {@code METHOD
 * /path} (normalised), continuing an inbound {@code traceparent}/{@code tracestate} or B3; when it
 * returns its {@code Mono}, the transaction is detached from the thread and the Mono is watched
 * ({@link Monos}): while a thread subscribes it (where WebFlux routes the request and calls the
 * handler) the transaction is that thread's again, so the handler's steps and the tasks it hands
 * to executors and Reactor schedulers join it. The request is a {@link Carrier}: the Reactor
 * subscribers created while it is a thread's current carrier capture it, and a signal they get on
 * another thread attaches the transaction there for the signal ({@code lib/reactor}). It ends on
 * the Mono's end (the response written,
 * or the client gone), on whatever thread that is, named {@code METHOD route} from the pattern
 * WebFlux matched ({@code HandlerMapping.bestMatchingPattern}, which also becomes {@code
 * http.route}) with the response's status. Spring's types are reached by reflection, found once
 * per class; nothing here throws into the application.
 */
public final class WebFlux {
    /** The exchange attribute WebFlux's handler mappings set to the matched {@code PathPattern}. */
    static final String PATTERN = "org.springframework.web.reactive.HandlerMapping.bestMatchingPattern";
    /** The exchange attribute where Spring Boot's error handling keeps the handler's exception. */
    static final String BOOT_ERROR = "org.springframework.boot.web.reactive.error.DefaultErrorAttributes.ERROR";

    private static volatile Accessors lastRequest;
    private static volatile Accessors lastResponse;
    private static volatile Accessors lastExchange;
    private static volatile Method headersGet;

    private WebFlux() {}

    /**
     * Entry of {@code HttpWebHandlerAdapter.handle}: begins the transaction unless this thread has
     * one open (then WebFlux runs inside it, as under a servlet). 1 when it began one, else 0.
     */
    public static long enter(Object request, Object response) {
        if (!Osprey.enabled || request == null || OspreyNative.inTransaction()) {
            return 0L;
        }
        Request r;
        String name;
        try {
            Accessors a = accessors(request, true);
            Object uri = a.call(a.uri, request);
            String path = uri instanceof URI ? ((URI) uri).getRawPath() : null;
            String method = String.valueOf(a.call(a.method, request));
            Object headers = a.call(a.headers, request);
            Inbound inbound = Inbound.of(headers);
            name = Endpoints.method(method) + " " + Routes.normalize(path == null || path.isEmpty() ? "/" : path);
            if (!Endpoints.known(name)) {
                name = Endpoints.other(method);
            }
            if (OspreyNative.begin(name, OspreyNative.TXN_SERVER, inbound.parent) != OspreyNative.OK) {
                return 0L;
            }
            Osprey.began(name);
            TraceContext.set(inbound.context);
            r = new Request(response, method, name, path);
            r.outer = Carrier.set(r.carrier);
            r.agent = first(headers, "user-agent");
            Object remote = a.call(a.remoteAddress, request);
            if (remote instanceof InetSocketAddress && ((InetSocketAddress) remote).getAddress() != null) {
                r.client = ((InetSocketAddress) remote).getAddress().getHostAddress();
            }
        } catch (Throwable t) {
            return 0L;
        }
        // Begun: from here on the transaction must be ended, whatever happens.
        try {
            Servers.entryAttributes(r.method, r.path, r.client, r.agent);
        } catch (Throwable ignored) {
            // attributes are best effort
        }
        return 1L;
    }

    /**
     * Normal exit of {@code handle}: the transaction leaves the thread and follows the returned
     * Mono (the replacement returned); ended now when the Mono cannot be watched.
     */
    public static Object exit(Object mono, long began) {
        if (began == 0L) {
            return mono;
        }
        Request r = attached();
        if (r == null) {
            return mono;
        }
        Carrier.set(r.outer);
        try {
            Object watched = Monos.wrap(mono, r);
            if (watched != mono && r.park()) {
                return watched;
            }
        } catch (Throwable ignored) {
            // ended below
        }
        r.terminated(null, false);
        return mono;
    }

    /** {@code handle} threw: the transaction ends with the exception; the caller rethrows. */
    public static void exitError(Throwable thrown, long began) {
        if (began == 0L) {
            return;
        }
        Request r = attached();
        if (r != null) {
            Carrier.set(r.outer);
            r.terminated(thrown, false);
        }
    }

    /**
     * Entry of a web handler taking the exchange ({@code ExceptionHandlingWebHandler}, {@code
     * DispatcherHandler}): remembers it for the route and outcome of the transaction attached here.
     */
    public static void exchange(Object exchange) {
        Request r = attached();
        if (r != null && r.exchange == null && exchange != null) {
            r.exchange = exchange;
        }
    }

    /** The request of this thread's current carrier; null when none. */
    private static Request attached() {
        Carrier c = Carrier.current();
        return c instanceof Link ? ((Link) c).request : null;
    }

    /** A request's {@link Carrier}: its scopes attach the request's transaction to their thread. */
    static final class Link extends Carrier {
        final Request request;

        Link(Request request) {
            this.request = request;
        }

        @Override
        protected boolean join() {
            return request.join();
        }

        @Override
        protected void leave() {
            request.leave();
        }
    }

    /** The first value of header {@code name}; null when none. */
    static String first(Object headers, String name) {
        String[] v = values(headers, name);
        return v == null || v.length == 0 ? null : v[0];
    }

    /** The lines of header {@code name} in Spring's {@code HttpHeaders}; null when none. */
    static String[] values(Object headers, String name) {
        if (headers == null) {
            return null;
        }
        Object list;
        try {
            if (headers instanceof Map) {
                list = ((Map<?, ?>) headers).get(name); // Spring 5 and 6: a MultiValueMap
            } else {
                Method get = headersGet;
                if (get == null || get.getDeclaringClass() != headers.getClass()) {
                    get = Reflection.publicMethod(headers.getClass(), "get", String.class); // Spring 7
                    if (get == null) {
                        return null;
                    }
                    headersGet = get;
                }
                list = get.invoke(headers, name);
            }
        } catch (Throwable t) {
            return null;
        }
        if (!(list instanceof List) || ((List<?>) list).isEmpty()) {
            return null;
        }
        List<?> l = (List<?>) list;
        String[] out = new String[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = String.valueOf(l.get(i));
        }
        return out;
    }

    /**
     * The route WebFlux matched for {@code exchange} (its {@code PathPattern}'s text, under the
     * request's context path); null when none.
     */
    static String route(Object exchange) {
        if (exchange == null) {
            return null;
        }
        Accessors e = accessors(exchange, false);
        Object attributes = e.call(e.attributes, exchange);
        if (!(attributes instanceof Map)) {
            return null;
        }
        Object pattern = ((Map<?, ?>) attributes).get(PATTERN);
        if (pattern == null) {
            return null;
        }
        String text = pattern instanceof String ? (String) pattern : patternText(pattern);
        if (text == null || text.isEmpty()) {
            return null;
        }
        String context = contextPath(e.call(e.request, exchange));
        return context == null || context.isEmpty() ? text : context + (text.startsWith("/") ? "" : "/") + text;
    }

    /** {@code PathPattern.getPatternString()}, else its text. */
    private static String patternText(Object pattern) {
        try {
            Method m = Reflection.publicMethod(pattern.getClass(), "getPatternString");
            Object s = m == null ? pattern.toString() : m.invoke(pattern);
            return s == null ? null : s.toString();
        } catch (Throwable t) {
            return null;
        }
    }

    /** {@code request.getPath().contextPath().value()}; null when none. */
    private static String contextPath(Object request) {
        if (request == null) {
            return null;
        }
        try {
            Accessors a = accessors(request, true);
            Object path = a.call(a.requestPath, request);
            Method context = path == null ? null : Reflection.publicMethod(path.getClass(), "contextPath");
            Object c = context == null ? null : context.invoke(path);
            Method value = c == null ? null : Reflection.publicMethod(c.getClass(), "value");
            Object v = value == null ? null : value.invoke(c);
            return v == null ? null : v.toString();
        } catch (Throwable t) {
            return null;
        }
    }

    /** The response's status; -1 when none was set. */
    static int status(Object response) {
        if (response == null) {
            return -1;
        }
        Accessors a = accessors(response, false);
        Object code = a.call(a.statusCode, response);
        if (code == null) {
            return -1;
        }
        if (code instanceof Integer) {
            return (Integer) code;
        }
        try {
            Method value = Reflection.publicMethod(code.getClass(), "value");
            Object v = value == null ? null : value.invoke(code);
            return v instanceof Integer ? (Integer) v : -1;
        } catch (Throwable t) {
            return -1;
        }
    }

    private static Accessors accessors(Object target, boolean request) {
        Class<?> c = target.getClass();
        if (request) {
            Accessors a = lastRequest;
            if (a == null || a.type != c) {
                a = new Accessors(c);
                lastRequest = a;
            }
            return a;
        }
        Accessors a = c == (lastResponse == null ? null : lastResponse.type) ? lastResponse
                : c == (lastExchange == null ? null : lastExchange.type) ? lastExchange : null;
        if (a == null) {
            a = new Accessors(c);
            if (a.attributes != null) {
                lastExchange = a;
            } else {
                lastResponse = a;
            }
        }
        return a;
    }

    /** The accessors of one request, response or exchange class (null where it has none). */
    static final class Accessors {
        final Class<?> type;
        final Method method;
        final Method uri;
        final Method headers;
        final Method remoteAddress;
        final Method requestPath;
        final Method statusCode;
        final Method attributes;
        final Method request;

        Accessors(Class<?> c) {
            type = c;
            method = Reflection.publicMethod(c, "getMethod");
            uri = Reflection.publicMethod(c, "getURI");
            headers = Reflection.publicMethod(c, "getHeaders");
            remoteAddress = Reflection.publicMethod(c, "getRemoteAddress");
            requestPath = Reflection.publicMethod(c, "getPath");
            statusCode = Reflection.publicMethod(c, "getStatusCode");
            attributes = Reflection.publicMethod(c, "getAttributes");
            request = Reflection.publicMethod(c, "getRequest");
        }

        /** {@code m.invoke(target)}; null when {@code m} is null or fails. */
        Object call(Method m, Object target) {
            if (m == null) {
                return null;
            }
            try {
                return m.invoke(target);
            } catch (Throwable t) {
                return null;
            }
        }
    }

    /** The parent a request continues: W3C first, else B3 (single or multi-header form). */
    static final class Inbound {
        String parent;
        TraceContext context;

        static Inbound of(Object headers) {
            Inbound in = new Inbound();
            String parent = TraceContext.traceparent(values(headers, TraceContext.TRACEPARENT));
            if (parent != null) {
                in.parent = parent;
                in.context = new TraceContext(TraceContext.flagsOf(parent),
                        TraceContext.tracestate(values(headers, TraceContext.TRACESTATE)));
                return in;
            }
            String b3 = first(headers, "b3");
            if (b3 != null) {
                String[] parts = b3.trim().split("-");
                String flag = parts.length == 1 ? parts[0] : parts.length >= 3 ? parts[2] : "1";
                in.parent = b3;
                in.context = new TraceContext("0".equals(flag) ? 0 : TraceContext.SAMPLED, null);
                return in;
            }
            String trace = first(headers, "X-B3-TraceId");
            String span = first(headers, "X-B3-SpanId");
            if (trace != null && span != null) {
                String sampled = first(headers, "X-B3-Sampled");
                String s = sampled == null ? null : sampled.trim();
                in.parent = trace.trim() + "-" + span.trim() + (s == null ? "" : "-" + s);
                in.context = new TraceContext("0".equals(s) ? 0 : TraceContext.SAMPLED, null);
            }
            return in;
        }
    }

    /**
     * One request's transaction: detached ({@link #id} &gt; 0) between the threads that run its
     * Mono, attached to a thread while that thread subscribes it or runs a Reactor signal of it
     * ({@link #carrier}'s scopes), ended once.
     */
    static final class Request extends Monos.Watcher {
        /**
         * Longest a signal waits for a thread that has the transaction to let it go: one that
         * cannot block (an event loop: {@link #nonBlocking}), and one subscribing the request.
         */
        static final long WAIT_NON_BLOCKING_NANOS = 100_000_000L;
        static final long WAIT_SUBSCRIBING_NANOS = 10_000_000L;
        /**
         * Longest a signal on a thread that must not block (an event loop: every connection on it
         * waits too) waits, whatever the holder: past it the signal runs outside the transaction.
         */
        static final long WAIT_ON_EVENT_LOOP_NANOS = 2_000_000L;

        /**
         * Thread classes Reactor marks as never blocking ({@code reactor.core.scheduler.NonBlocking}:
         * Reactor Netty's event loops, Reactor's parallel scheduler): a scope there ends soon.
         */
        private static final ClassValue<Boolean> NON_BLOCKING = new ClassValue<Boolean>() {
            @Override
            protected Boolean computeValue(Class<?> type) {
                for (Class<?> c = type; c != null; c = c.getSuperclass()) {
                    for (Class<?> i : c.getInterfaces()) {
                        if (i.getName().equals("reactor.core.scheduler.NonBlocking")) {
                            return Boolean.TRUE;
                        }
                    }
                }
                return Boolean.FALSE;
            }
        };

        static boolean nonBlocking(Thread t) {
            return NON_BLOCKING.get(t.getClass());
        }
        Object response;
        final String method;
        final String path;
        String name;
        String agent;
        String client;
        volatile Object exchange;
        /** What the Reactor subscribers of this request capture: its scopes attach the transaction. */
        final Link carrier = new Link(this);
        /** The begin thread's carrier before this one (restored when {@code handle} returns). */
        Carrier outer;
        /** The detached transaction; 0 while attached or ended. */
        private long id;
        /** What it continued from its caller, set on each thread it is attached to. */
        private TraceContext context;
        /** The thread it is attached to in a scope; null otherwise. */
        private Thread attachedTo;
        /** What that thread had before (a parked transaction's id, its trace context). */
        private long previous;
        private TraceContext previousContext;
        /** The subscribing thread's scope ({@link #subscribing} to {@link #subscribed}). */
        private long subscribeScope;
        /** The thread subscribing the request's Mono, while it does; null otherwise. */
        private Thread subscribing;
        /** Threads waiting in {@link #join} for the thread that has the transaction to let it go. */
        private int waiters;
        private boolean ended;
        /** The end that came while another thread had it attached: that thread's scope ends it. */
        private boolean endPending;
        private Throwable pendingError;
        private boolean pendingCancel;

        Request(Object response, String method, String name, String path) {
            this.response = response;
            this.method = method;
            this.name = name;
            this.path = path;
        }

        /** Detaches the transaction from this thread (where it was begun); false when it cannot. */
        synchronized boolean park() {
            long detached = OspreyNative.detach();
            if (detached <= 0L) {
                return false;
            }
            id = detached;
            context = TraceContext.current();
            TraceContext.set(null);
            Osprey.parked();
            return true;
        }

        @Override
        protected void subscribing() {
            try {
                synchronized (this) {
                    subscribing = Thread.currentThread();
                }
                subscribeScope = Carrier.enter(carrier);
            } catch (Throwable ignored) {
                // the work runs outside the transaction
            }
        }

        @Override
        protected void subscribed() {
            long scope = subscribeScope;
            subscribeScope = 0L;
            try {
                Carrier.exit(scope);
                synchronized (this) {
                    subscribing = null;
                }
            } catch (Throwable ignored) {
                // never into the application
            }
        }

        /**
         * See {@link Carrier#join}: the transaction becomes this thread's, unless another thread
         * has it, or this thread runs a transaction of no carrier (a task this request handed to
         * an executor or a Reactor scheduler, whose step then keeps the work, on its thread).
         */
        boolean join() {
            try {
                if (Carrier.current() == null && OspreyNative.inTransaction()) {
                    return false;
                }
            } catch (Throwable t) {
                return false;
            }
            return joinParked();
        }

        private synchronized boolean joinParked() {
            awaitHolder();
            if (id == 0L || ended || attachedTo != null) {
                return false;
            }
            try {
                long had = OspreyNative.attach(id);
                if (had < 0L) {
                    return false;
                }
                id = 0L;
                attachedTo = Thread.currentThread();
                previous = had;
                previousContext = TraceContext.current();
                TraceContext.set(context);
                return true;
            } catch (Throwable t) {
                return false;
            }
        }

        /**
         * A signal (a response on another event loop) came while another thread has the
         * transaction in a scope: waits for it to let it go when that scope cannot block — the
         * thread never blocks ({@link #nonBlocking}: at most {@link #WAIT_NON_BLOCKING_NANOS}),
         * or it is subscribing the request (at most {@link #WAIT_SUBSCRIBING_NANOS}); a signal on
         * an event loop waits at most {@link #WAIT_ON_EVENT_LOOP_NANOS}. Holds the monitor.
         */
        private void awaitHolder() {
            Thread me = Thread.currentThread();
            long deadline = 0L;
            try {
                for (;;) {
                    Thread holder = attachedTo;
                    if (holder == null || holder == me) {
                        return;
                    }
                    long bound = nonBlocking(holder) ? WAIT_NON_BLOCKING_NANOS
                            : holder == subscribing ? WAIT_SUBSCRIBING_NANOS : 0L;
                    if (nonBlocking(me)) {
                        bound = Math.min(bound, WAIT_ON_EVENT_LOOP_NANOS);
                    }
                    long now = System.nanoTime();
                    if (deadline == 0L) {
                        deadline = now + bound;
                    }
                    long left = deadline - now;
                    if (bound == 0L || left <= 0L) {
                        return;
                    }
                    waiters++;
                    try {
                        wait(left / 1_000_000L, (int) (left % 1_000_000L));
                    } finally {
                        waiters--;
                    }
                }
            } catch (InterruptedException e) {
                me.interrupt();
            } catch (Throwable ignored) {
                // runs outside the transaction
            }
        }

        /** See {@link Carrier#leave}: detached again (or ended, when an end came meanwhile). */
        synchronized void leave() {
            if (attachedTo != Thread.currentThread()) {
                return;
            }
            try {
                if (endPending) {
                    end(pendingError, pendingCancel);
                } else if (!ended) {
                    long detached = OspreyNative.detach();
                    if (detached > 0L) {
                        id = detached;
                        context = TraceContext.current();
                    } else {
                        end(null, false); // cannot be parked: ended rather than left on the thread
                    }
                }
            } catch (Throwable ignored) {
                // never into the application
            }
            attachedTo = null;
            try {
                TraceContext.set(previousContext);
                if (previous > 0L) {
                    OspreyNative.attach(previous);
                } else if (OspreyNative.inTransaction()) {
                    // Something in the scope ended the wrong one (a task run in place while the
                    // request ended): the thread had none, so none may stay open on it.
                    OspreyNative.end();
                }
            } catch (Throwable ignored) {
                // never into the application
            }
            previousContext = null;
            previous = 0L;
            if (waiters > 0) {
                notifyAll();
            }
        }

        @Override
        protected synchronized void terminated(Throwable error, boolean cancelled) {
            if (ended) {
                return;
            }
            Thread here = Thread.currentThread();
            if (attachedTo == here && carrier.joinedHere()) {
                end(error, cancelled); // the scope restores the thread
                return;
            }
            if (attachedTo != null) {
                endPending = true;
                pendingError = error;
                pendingCancel = cancelled;
                return;
            }
            if (id == 0L) {
                // Never parked (handle failed or the Mono could not be watched): attached here.
                Carrier before = outer;
                end(error, cancelled);
                if (Carrier.current() == carrier) {
                    Carrier.set(before);
                }
                TraceContext.set(null);
                return;
            }
            long had = OspreyNative.attach(id);
            if (had < 0L) {
                ended = true;
                return;
            }
            id = 0L;
            TraceContext mine = TraceContext.current();
            try {
                end(error, cancelled);
            } finally {
                TraceContext.set(mine);
                if (had > 0L) {
                    OspreyNative.attach(had);
                }
            }
        }

        /** Names, records the outcome of and ends the transaction attached to this thread. */
        private void end(Throwable error, boolean cancelled) {
            ended = true;
            try {
                finish(error, cancelled);
            } catch (Throwable ignored) {
                // never into the application
            }
            try {
                OspreyNative.end();
            } catch (Throwable ignored) {
                // never into the application
            }
            // Subscribers that outlive the request keep its carrier: not the exchange.
            exchange = null;
            response = null;
            outer = null;
            pendingError = null;
        }

        private void finish(Throwable error, boolean cancelled) {
            Object x = exchange;
            String route = route(x);
            String wanted = route != null ? Endpoints.method(method) + " " + route : name;
            if (!Endpoints.admit(wanted)) {
                wanted = Endpoints.other(method);
                route = null;
            }
            if (!wanted.equals(name)) {
                OspreyNative.rename(wanted);
                name = wanted;
            }
            int status = status(response);
            if (status < 0 && error == null && !cancelled) {
                status = 200; // nothing set: the server answers 200
            }
            Servers.outcomeAttributes(route, status);
            Throwable thrown = error;
            if (thrown == null && x != null) {
                Accessors e = accessors(x, false);
                Object attributes = e.call(e.attributes, x);
                Object boot = attributes instanceof Map ? ((Map<?, ?>) attributes).get(BOOT_ERROR) : null;
                thrown = boot instanceof Throwable ? (Throwable) boot : null;
            }
            if (thrown != null) {
                Osprey.recordError(-1L, thrown);
            } else if (status >= 500) {
                OspreyNative.error(-1L, "HTTP " + status, "response status " + status, null);
            }
        }
    }
}
