package io.osprey.agent.lib.webclient;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.lib.httpclient.HttpClients;
import io.osprey.agent.lib.webflux.Monos;
import java.lang.reflect.Method;
import java.net.URI;
import java.util.List;
import java.util.Map;

/**
 * Spring's {@code WebClient} (on Reactor Netty or any other connector) as outgoing HTTP steps.
 * WebClient calls {@code ExchangeFunction.exchange(request)} when its Mono is subscribed: there,
 * on a thread with an open transaction (the request's, or a task's that carries it to a
 * scheduler thread), a CLIENT step {@code METHOD host:port} opens ({@link HttpClients#start}: the
 * same attributes and URL sanitising as the other clients, never a header), the request is copied
 * with {@code traceparent} (the step as parent) and {@code tracestate} unless it carries its own,
 * and the step leaves the thread; its end comes with the response's status (or the failure, or
 * the cancellation) on whichever thread the response arrives ({@link Monos}). Reached by
 * reflection; nothing here throws into the application.
 */
public final class WebClients {
    /** The step opened by the {@code exchange} running on this thread, until its exit. */
    private static final ThreadLocal<long[]> OPEN = new ThreadLocal<long[]>();

    private static volatile Api last;

    private WebClients() {}

    /** Entry of {@code exchange}: the request to send instead (with the trace headers). */
    public static Object request(Object request) {
        long[] stale = OPEN.get();
        if (stale != null) {
            // A previous exchange threw before its exit: its step never went out.
            OPEN.remove();
            complete(stale[0], 0, new IllegalStateException("the exchange failed"));
        }
        if (!Osprey.enabled || request == null || !OspreyNative.inTransaction()) {
            return request;
        }
        long handle = 0L;
        long cell = 0L;
        Object sent = request;
        try {
            Api api = api(request.getClass());
            Object method = api.method.invoke(request);
            Object url = api.url.invoke(request);
            if (!(url instanceof URI)) {
                return request;
            }
            URI u = (URI) url;
            handle = HttpClients.start(String.valueOf(method), u.getHost(), HttpClients.port(u.getPort(), u.getScheme()),
                    u.toString());
            if (handle == 0L) {
                return request;
            }
            sent = inject(api, request);
            cell = OspreyNative.deferEnd(handle);
        } catch (Throwable t) {
            sent = request;
        }
        if (handle != 0L) {
            if (cell != 0L) {
                OPEN.set(new long[] {cell});
            }
            Osprey.exit(handle);
        }
        return sent;
    }

    /** Normal exit of {@code exchange}: its Mono, watched for the step's end. */
    public static Object exchanged(Object mono) {
        long[] open = OPEN.get();
        if (open == null) {
            return mono;
        }
        OPEN.remove();
        Object watched = Monos.wrap(mono, new End(open[0]));
        if (watched == mono) {
            complete(open[0], 0, null);
        }
        return watched;
    }

    /** {@code request} with the trace headers, or itself when it has its own {@code traceparent}. */
    static Object inject(Api api, Object request) throws Exception {
        String parent = TraceContext.outgoing(OspreyNative.traceparent());
        if (parent == null) {
            return request;
        }
        Object headers = api.headers.invoke(request);
        if (has(headers, TraceContext.TRACEPARENT)) {
            return request; // the application's own
        }
        Object builder = api.from.invoke(null, request);
        Method header = api.header(builder.getClass());
        header.invoke(builder, TraceContext.TRACEPARENT, new String[] {parent});
        String state = TraceContext.outgoingState();
        if (state != null && !has(headers, TraceContext.TRACESTATE)) {
            header.invoke(builder, TraceContext.TRACESTATE, new String[] {state});
        }
        Method build = Reflection.publicMethod(builder.getClass(), "build");
        Object built = build == null ? null : build.invoke(builder);
        return built != null ? built : request;
    }

    /** Whether Spring's {@code HttpHeaders} has {@code name}. */
    private static boolean has(Object headers, String name) throws Exception {
        if (headers instanceof Map) {
            return ((Map<?, ?>) headers).containsKey(name);
        }
        Method contains = headers == null ? null : Reflection.publicMethod(headers.getClass(), "containsHeader", String.class);
        if (contains != null) {
            return Boolean.TRUE.equals(contains.invoke(headers, name));
        }
        Method get = headers == null ? null : Reflection.publicMethod(headers.getClass(), "get", String.class);
        Object v = get == null ? null : get.invoke(headers, name);
        return v instanceof List && !((List<?>) v).isEmpty();
    }

    /** Ends the deferred step {@code cell} with {@code status} (0: none) or {@code error}. */
    static void complete(long cell, int status, Throwable error) {
        String type = null;
        String message = null;
        try {
            if (error != null) {
                type = error.getClass().getName();
                message = HttpClients.message(error, null);
            } else if (status >= 500) {
                type = "HTTP " + status;
                message = "response status " + status;
            }
        } catch (Throwable ignored) {
            // ends without details
        }
        OspreyNative.completeDeferred(cell, status, type, message);
    }

    /** {@code response.statusCode().value()} of a {@code ClientResponse}; 0 when unknown. */
    static int status(Object response) {
        try {
            Method code = Reflection.publicMethod(response.getClass(), "statusCode");
            Object c = code == null ? null : code.invoke(response);
            if (c == null) {
                return 0;
            }
            if (c instanceof Integer) {
                return (Integer) c;
            }
            Method value = Reflection.publicMethod(c.getClass(), "value");
            Object v = value == null ? null : value.invoke(c);
            return v instanceof Integer ? (Integer) v : 0;
        } catch (Throwable t) {
            return 0;
        }
    }

    /** The step's end, heard from the exchange's Mono. */
    static final class End extends Monos.Watcher {
        private final long cell;
        private volatile int status;

        End(long cell) {
            this.cell = cell;
        }

        @Override
        protected void next(Object response) {
            if (response != null) {
                status = status(response);
            }
        }

        @Override
        protected void terminated(Throwable error, boolean cancelled) {
            complete(cell, status, error);
        }
    }

    private static Api api(Class<?> requestType) throws Exception {
        Api a = last;
        if (a == null || a.type != requestType) {
            a = new Api(requestType);
            last = a;
        }
        return a;
    }

    /** {@code ClientRequest}'s methods as one request class sees them. */
    static final class Api {
        final Class<?> type;
        final Method method;
        final Method url;
        final Method headers;
        final Method from;
        private volatile Method header;

        Api(Class<?> type) throws Exception {
            this.type = type;
            Class<?> api = Class.forName("org.springframework.web.reactive.function.client.ClientRequest", false,
                    type.getClassLoader());
            method = api.getMethod("method");
            url = api.getMethod("url");
            headers = api.getMethod("headers");
            from = api.getMethod("from", api);
        }

        /** {@code ClientRequest.Builder.header(String, String...)}. */
        Method header(Class<?> builder) throws NoSuchMethodException {
            Method h = header;
            if (h == null) {
                h = Reflection.publicMethod(builder, "header", String.class, String[].class);
                if (h == null) {
                    throw new NoSuchMethodException("header");
                }
                header = h;
            }
            return h;
        }
    }
}
