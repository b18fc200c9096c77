package io.osprey.agent.lib.okhttp;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.lib.httpclient.HttpClients;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.List;

/**
 * OkHttp calls as outgoing HTTP steps. An application interceptor (a {@link Proxy} of {@code
 * okhttp3.Interceptor}, whose handler is this class's) makes each call made on a thread with an
 * open transaction one CLIENT step {@code METHOD host:port}, as {@link HttpClients} does for the
 * other clients, and adds {@code traceparent}/{@code tracestate} to the request unless it carries
 * its own. Redirects and retries happen inside the one step. Calls run with {@code enqueue} run
 * on OkHttp's dispatcher threads, where no transaction is open: they are steps only when the
 * transaction's context follows the work to those threads. OkHttp's types are reached by
 * reflection. Nothing here throws into the application but the call's own exceptions.
 */
public final class OkHttp {
    private static final Handler HANDLER = new Handler();

    private OkHttp() {}

    /** At the start of {@code OkHttpClient(builder)}: adds the interceptor unless already there. */
    public static void builder(Object builder) {
        if (!Osprey.enabled || builder == null) {
            return;
        }
        try {
            Method interceptors = Reflection.publicMethod(builder.getClass(), "interceptors");
            Object list = interceptors == null ? null : interceptors.invoke(builder);
            if (!(list instanceof List)) {
                return;
            }
            @SuppressWarnings("unchecked")
            List<Object> l = (List<Object>) list;
            for (Object i : l) {
                if (i != null && Proxy.isProxyClass(i.getClass()) && Proxy.getInvocationHandler(i) == HANDLER) {
                    return; // a builder from newBuilder() of an instrumented client
                }
            }
            Class<?> type = Class.forName("okhttp3.Interceptor", false, builder.getClass().getClassLoader());
            l.add(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, HANDLER));
        } catch (Throwable ignored) {
            // the client works without steps
        }
    }

    /** The interceptor's behaviour. */
    static final class Handler implements InvocationHandler {
        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            String name = method.getName();
            if (name.equals("intercept") && args != null && args.length == 1) {
                return intercept(args[0]);
            }
            if (name.equals("equals")) {
                return proxy == args[0];
            }
            if (name.equals("hashCode")) {
                return System.identityHashCode(proxy);
            }
            if (name.equals("toString")) {
                return "OspreyInterceptor";
            }
            throw new UnsupportedOperationException(name);
        }
    }

    /** {@code Interceptor.intercept(chain)}. */
    static Object intercept(Object chain) throws Throwable {
        Method requestOf = Reflection.publicMethod(chain.getClass(), "request");
        Object request = requestOf.invoke(chain);
        Method proceed = proceedOf(chain, request);
        long h = 0L;
        String url = null;
        Object sent = request;
        if (Osprey.enabled) {
            try {
                Object httpUrl = call(request, "url");
                url = String.valueOf(httpUrl);
                String host = String.valueOf(call(httpUrl, "host"));
                Object port = call(httpUrl, "port");
                h = HttpClients.start((String) call(request, "method"), host,
                        port instanceof Integer ? (Integer) port : -1, url);
                if (h != 0L) {
                    sent = inject(request);
                }
            } catch (Throwable t) {
                sent = request; // the call goes ahead untouched
            }
        }
        if (h == 0L) {
            return invoke(proceed, chain, sent);
        }
        Object response;
        try {
            response = invoke(proceed, chain, sent);
        } catch (Throwable t) {
            HttpClients.finish(h, -1, t, url);
            throw t;
        }
        int status = -1;
        try {
            Object code = call(response, "code");
            status = code instanceof Integer ? (Integer) code : -1;
        } catch (Throwable ignored) {
            // no status
        }
        HttpClients.finish(h, status, null, url);
        return response;
    }

    /** The request with the trace headers added, or itself when it has its own traceparent. */
    private static Object inject(Object request) throws Exception {
        String parent = TraceContext.outgoing(OspreyNative.traceparent());
        if (parent == null) {
            return request;
        }
        Method header = Reflection.publicMethod(request.getClass(), "header", String.class);
        if (header.invoke(request, TraceContext.TRACEPARENT) != null) {
            return request; // the application's own
        }
        Object b = call(request, "newBuilder");
        Method set = Reflection.publicMethod(b.getClass(), "header", String.class, String.class);
        set.invoke(b, TraceContext.TRACEPARENT, parent);
        String state = TraceContext.outgoingState();
        if (state != null && header.invoke(request, TraceContext.TRACESTATE) == null) {
            set.invoke(b, TraceContext.TRACESTATE, state);
        }
        return call(b, "build");
    }

    /** {@code Chain.proceed(Request)} ({@code Request} is a final class: the request's own). */
    private static Method proceedOf(Object chain, Object request) throws Exception {
        Method m = Reflection.publicMethod(chain.getClass(), "proceed", request.getClass());
        if (m == null) {
            throw new NoSuchMethodException("proceed");
        }
        return m;
    }

    /** {@code chain.proceed(request)}, its own exception rethrown as is. */
    private static Object invoke(Method proceed, Object chain, Object request) throws Throwable {
        try {
            return proceed.invoke(chain, request);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static Object call(Object target, String name) throws Exception {
        Method m = Reflection.publicMethod(target.getClass(), name);
        if (m == null) {
            throw new NoSuchMethodException(name);
        }
        return m.invoke(target);
    }
}
