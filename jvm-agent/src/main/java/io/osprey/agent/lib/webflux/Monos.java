package io.osprey.agent.lib.webflux;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Watches one subscription of a Reactor {@code Mono} without linking to Reactor: the Mono is
 * replaced by {@code Mono.fromDirect(publisher)} of a {@link Proxy} publisher (in the Mono's
 * class loader) that subscribes the original with a proxy {@code CoreSubscriber} (so the
 * subscriber's Reactor context still flows upstream). The {@link Watcher} hears the subscribing
 * thread enter and leave the source's {@code subscribe}, each value, and the one end (completion,
 * error or cancellation) before it goes downstream. Only the first subscription is watched; a
 * second one (a retry) passes straight through. Nothing here throws into the application: a
 * Mono that cannot be wrapped is returned as it is (the caller learns it from {@link #wrap}'s
 * result).
 */
public final class Monos {
    private static volatile Api last;

    private Monos() {}

    /** What one watched subscription reports; no method may throw. */
    public abstract static class Watcher {
        /** On the subscribing thread, before the source is subscribed. */
        protected void subscribing() {}

        /** On the subscribing thread, after the source's {@code subscribe} returned. */
        protected void subscribed() {}

        /** A value, before it goes downstream. */
        protected void next(Object value) {}

        /** Once: completion ({@code error} null), failure or cancellation, before it goes on. */
        protected abstract void terminated(Throwable error, boolean cancelled);
    }

    /**
     * {@code mono} (a {@code reactor.core.publisher.Mono}) watched by {@code watcher}; {@code
     * mono} itself when it cannot be (not a Mono, Reactor's API not found).
     */
    public static Object wrap(Object mono, Watcher watcher) {
        if (mono == null || watcher == null) {
            return mono;
        }
        try {
            Api api = api(mono.getClass());
            if (api == null) {
                return mono;
            }
            Object publisher = Proxy.newProxyInstance(api.loader, new Class<?>[] {api.publisher},
                    new Source(api, mono, watcher));
            Object wrapped = api.fromDirect.invoke(null, publisher);
            return wrapped != null ? wrapped : mono;
        } catch (Throwable t) {
            return mono;
        }
    }

    /** Whether {@code wrap} can work on Monos of {@code type} (Reactor 3.4+ visible from it). */
    static boolean supported(Class<?> type) {
        return api(type) != null;
    }

    private static Api api(Class<?> monoType) {
        Api a = last;
        if (a != null && a.type == monoType) {
            return a;
        }
        try {
            ClassLoader loader = monoType.getClassLoader();
            Class<?> mono = Class.forName("reactor.core.publisher.Mono", false, loader);
            if (!mono.isAssignableFrom(monoType)) {
                return null;
            }
            a = new Api();
            a.type = monoType;
            a.loader = mono.getClassLoader();
            a.publisher = Class.forName("org.reactivestreams.Publisher", false, a.loader);
            a.subscriber = Class.forName("org.reactivestreams.Subscriber", false, a.loader);
            a.coreSubscriber = Class.forName("reactor.core.CoreSubscriber", false, a.loader);
            a.subscription = Class.forName("org.reactivestreams.Subscription", false, a.loader);
            a.fromDirect = mono.getMethod("fromDirect", a.publisher);
            a.subscribe = a.publisher.getMethod("subscribe", a.subscriber);
            a.currentContext = a.coreSubscriber.getMethod("currentContext");
            last = a;
            return a;
        } catch (Throwable t) {
            return null;
        }
    }

    /** Reactor's types and methods as one class loader sees them. */
    static final class Api {
        Class<?> type;
        ClassLoader loader;
        Class<?> publisher;
        Class<?> subscriber;
        Class<?> coreSubscriber;
        Class<?> subscription;
        Method fromDirect;
        Method subscribe;
        Method currentContext;
    }

    /** {@code method.invoke(target, args)} with the target's own exception rethrown as is. */
    static Object call(Method method, Object target, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Answers {@code equals}, {@code hashCode}, {@code toString} of a proxy; null for others. */
    static Object objectMethod(Object proxy, Method method, Object[] args, String label) {
        String name = method.getName();
        if (name.equals("equals") && args != null && args.length == 1) {
            return proxy == args[0];
        }
        if (name.equals("hashCode") && (args == null || args.length == 0)) {
            return System.identityHashCode(proxy);
        }
        if (name.equals("toString") && (args == null || args.length == 0)) {
            return label;
        }
        return null;
    }

    /** The publisher {@code Mono.fromDirect} wraps: subscribes the original, watched once. */
    static final class Source implements InvocationHandler {
        private final Api api;
        private final Object mono;
        private final Watcher watcher;
        private final AtomicBoolean used = new AtomicBoolean();

        Source(Api api, Object mono, Watcher watcher) {
            this.api = api;
            this.mono = mono;
            this.watcher = watcher;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (!method.getName().equals("subscribe") || args == null || args.length != 1) {
                Object answer = objectMethod(proxy, method, args, "osprey(" + mono + ")");
                if (answer == null) {
                    throw new UnsupportedOperationException(method.getName());
                }
                return answer;
            }
            Object actual = args[0];
            if (!used.compareAndSet(false, true) || !api.coreSubscriber.isInstance(actual)) {
                return call(api.subscribe, mono, new Object[] {actual});
            }
            Signals signals = new Signals(api, actual, watcher);
            Object inner;
            try {
                inner = Proxy.newProxyInstance(api.loader, new Class<?>[] {api.coreSubscriber}, signals);
            } catch (Throwable t) {
                return call(api.subscribe, mono, new Object[] {actual});
            }
            watcher.subscribing();
            try {
                call(api.subscribe, mono, new Object[] {inner});
            } finally {
                watcher.subscribed();
            }
            return null;
        }
    }

    /** The subscriber between the original Mono and its subscriber. */
    static final class Signals implements InvocationHandler {
        private final Api api;
        private final Object actual;
        private final Watcher watcher;
        private final AtomicBoolean ended = new AtomicBoolean();

        Signals(Api api, Object actual, Watcher watcher) {
            this.api = api;
            this.actual = actual;
            this.watcher = watcher;
        }

        /** Tells the watcher the end once. */
        void end(Throwable error, boolean cancelled) {
            if (ended.compareAndSet(false, true)) {
                watcher.terminated(error, cancelled);
            }
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            String name = method.getName();
            int n = args == null ? 0 : args.length;
            if (name.equals("onSubscribe") && n == 1 && api.subscription.isInstance(args[0])) {
                Object subscription = args[0];
                Object guarded;
                try {
                    guarded = Proxy.newProxyInstance(api.loader, new Class<?>[] {api.subscription},
                            new Cancels(this, subscription));
                } catch (Throwable t) {
                    guarded = subscription;
                }
                return call(method, actual, new Object[] {guarded});
            }
            if (name.equals("onNext") && n == 1) {
                watcher.next(args[0]);
            } else if (name.equals("onError") && n == 1) {
                end(args[0] instanceof Throwable ? (Throwable) args[0] : null, false);
            } else if (name.equals("onComplete") && n == 0) {
                end(null, false);
            } else if (name.equals("currentContext") && n == 0) {
                return call(api.currentContext, actual, null);
            } else {
                Object answer = objectMethod(proxy, method, args, "osprey(" + actual + ")");
                if (answer != null) {
                    return answer;
                }
            }
            return call(method, actual, args);
        }
    }

    /** The subscription handed downstream: a cancel ends the watch first. */
    static final class Cancels implements InvocationHandler {
        private final Signals signals;
        private final Object subscription;

        Cancels(Signals signals, Object subscription) {
            this.signals = signals;
            this.subscription = subscription;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getName().equals("cancel") && (args == null || args.length == 0)) {
                signals.end(null, true);
            } else {
                Object answer = objectMethod(proxy, method, args, "osprey(" + subscription + ")");
                if (answer != null) {
                    return answer;
                }
            }
            return call(method, subscription, args);
        }
    }
}
