package io.osprey.agent.lib.httpclient;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * CLIENT steps for outgoing HTTP calls (the HTTP client instrumentation): {@code
 * HttpURLConnection}, the JDK's {@code java.net.http.HttpClient} and Apache HttpClient 4 and 5.
 *
 * <p>A step is named {@code METHOD host:port} and carries {@code http.request.method}, {@code
 * url.full} (user info dropped, query values replaced by {@code ?}), {@code server.address},
 * {@code server.port} and {@code http.response.status_code}. A status of 500 or more, or an
 * exception before any status arrived, marks it as an error. The outgoing request carries a W3C
 * {@code traceparent} naming this step (so the callee's server span is its child) unless the
 * application set one. Outside a transaction there is no step and no header.
 *
 * <p>Application types arrive as {@code Object}: this class is on the boot class path and cannot
 * see them, so their methods are found by name with reflection (once per class). Nothing here
 * throws.
 */
public final class HttpClients {
    /** The W3C trace context header. */
    public static final String TRACEPARENT = "traceparent";

    /** Per {@code HttpURLConnection}: its step. Weak keys; connections use identity equality. */
    private static final Map<Object, UrlState> URL_STATES =
            Collections.synchronizedMap(new WeakHashMap<Object, UrlState>());

    /** Open {@code urlEnter} tokens → their connection's step; every one reaches an exit. */
    private static final Map<Long, UrlState> TOKENS = new ConcurrentHashMap<Long, UrlState>();
    private static final AtomicLong NEXT_TOKEN = new AtomicLong();

    /** Apache requests whose {@code traceparent} is ours (a re-executed request gets a new one). */
    private static final Map<Object, Boolean> INJECTED =
            Collections.synchronizedMap(new WeakHashMap<Object, Boolean>());

    /** Step name → interned id, read without a lock. Bounded; the recorder's name table is too. */
    private static final Map<String, Integer> NAME_IDS = new ConcurrentHashMap<String, Integer>();
    private static final int MAX_NAME_IDS = 4096;

    private static int kMethod = -1;
    private static int kUrl = -1;
    private static int kAddress = -1;
    private static int kPort = -1;
    private static int kStatus = -1;

    private static volatile Reflected jdkApi;
    private static volatile Reflected apacheRequest;
    private static volatile Reflected apacheHost;
    private static volatile Reflected apacheResponse;
    private static volatile Method headersSetter;

    private HttpClients() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kMethod = OspreyNative.intern("http.request.method");
        kUrl = OspreyNative.intern("url.full");
        kAddress = OspreyNative.intern("server.address");
        kPort = OspreyNative.intern("server.port");
        kStatus = OspreyNative.intern("http.response.status_code");
    }

    // ---- java.net.HttpURLConnection (sun.net.www.protocol.http.HttpURLConnection) ----

    /**
     * Entry of {@code connect()}, {@code getOutputStream()} ({@code response} false) or {@code
     * getInputStream()} ({@code response} true) of the JDK's connection. The first of them on a
     * connection not yet connected opens the step and sets the header; the outermost {@code
     * getInputStream} closes it once the response is there. Returns a token for {@link #urlExit}.
     */
    public static long urlEnter(Object conn, boolean connected, boolean response) {
        if (!Osprey.enabled || !(conn instanceof HttpURLConnection)) {
            return 0L;
        }
        try {
            UrlState s = URL_STATES.get(conn);
            boolean opened = false;
            if (s == null) {
                if (connected) {
                    return 0L;
                }
                HttpURLConnection c = (HttpURLConnection) conn;
                URL url = c.getURL();
                String method = c.getRequestMethod();
                if ("GET".equals(method) && c.getDoOutput()) {
                    method = "POST"; // as the JDK's getOutputStream() decides
                }
                long h = start(method, url.getHost(), port(url.getPort(), url.getProtocol()), url.toString());
                if (h == 0L) {
                    return 0L;
                }
                s = new UrlState(h, conn, url.toString());
                URL_STATES.put(conn, s);
                opened = true;
                try {
                    if (c.getRequestProperty(TRACEPARENT) == null) {
                        String header = TraceContext.outgoing(OspreyNative.traceparent());
                        if (header != null) {
                            c.setRequestProperty(TRACEPARENT, header);
                            String state = TraceContext.outgoingState();
                            if (state != null && c.getRequestProperty(TraceContext.TRACESTATE) == null) {
                                c.setRequestProperty(TraceContext.TRACESTATE, state);
                            }
                        }
                    }
                } catch (Throwable ignored) {
                    // the step is recorded without propagation
                }
            }
            if (s.done || s.thread != Thread.currentThread()) {
                return 0L;
            }
            if (response) {
                if (s.reading) {
                    return 0L;
                }
                s.reading = true;
            } else if (!opened) {
                return 0L;
            }
            long token = NEXT_TOKEN.incrementAndGet();
            if (response) {
                s.readToken = token;
            }
            TOKENS.put(token, s);
            return token;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * Normal exit of a method {@link #urlEnter} gave a token: the outermost {@code getInputStream}
     * ends the step; {@code connect} and {@code getOutputStream} leave it open.
     */
    public static void urlExit(long token, Object conn) {
        if (token == 0L) {
            return;
        }
        UrlState s = TOKENS.remove(token);
        if (s != null && s.readToken == token) {
            urlFinish(s, null);
        }
    }

    /** Exceptional exit: the step ends with the exception (unless the response said otherwise). */
    public static void urlExitError(Throwable thrown, long token) {
        if (token == 0L) {
            return;
        }
        UrlState s = TOKENS.remove(token);
        if (s != null) {
            urlFinish(s, thrown);
        }
    }

    private static void urlFinish(UrlState s, Throwable thrown) {
        try {
            if (s.done) {
                return;
            }
            s.reading = true; // getResponseCode re-enters getInputStream: not a new step
            int status = -1;
            Object conn = s.conn.get();
            try {
                if (conn != null) {
                    status = ((HttpURLConnection) conn).getResponseCode();
                }
            } catch (Throwable ignored) {
                // no response
            }
            s.done = true;
            finish(s.handle, status, thrown, s.url);
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** The step of one {@code HttpURLConnection}. */
    static final class UrlState {
        final long handle;
        /** Weak: the state is the value of a weak map keyed by the connection. */
        final java.lang.ref.WeakReference<Object> conn;
        final String url;
        final Thread thread = Thread.currentThread();
        volatile long readToken;
        volatile boolean reading;
        volatile boolean done;

        UrlState(long handle, Object conn, String url) {
            this.handle = handle;
            this.conn = new java.lang.ref.WeakReference<Object>(conn);
            this.url = url;
        }
    }

    // ---- java.net.http.HttpClient (jdk.internal.net.http) ----

    /** Entry of {@code HttpClientImpl.send(request, handler)}: opens the step. */
    public static long jdkEnter(Object request) {
        if (!Osprey.enabled || request == null) {
            return 0L;
        }
        try {
            Reflected api = jdkApi(request);
            Object uri = api.call(0, request);
            String method = api.string(1, request);
            if (!(uri instanceof URI)) {
                return 0L;
            }
            URI u = (URI) uri;
            return start(method, u.getHost(), port(u.getPort(), u.getScheme()), u.toString());
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Normal exit of {@code send}: the response's status ends the step. */
    public static void jdkExit(Object response, long handle) {
        if (handle == 0L) {
            return;
        }
        int status = -1;
        try {
            Object code = response == null ? null : jdkApi(response).call(2, response);
            if (code instanceof Integer) {
                status = (Integer) code;
            }
        } catch (Throwable ignored) {
            // no status
        }
        finish(handle, status, null, null);
    }

    /**
     * Normal exit of {@code sendAsync}: the step is exited now, while its end, status and failure
     * come when {@code future} completes, on whichever thread completes it.
     */
    public static void jdkAsyncExit(Object future, long handle) {
        if (handle == 0L) {
            return;
        }
        long cell = 0L;
        try {
            cell = OspreyNative.deferEnd(handle);
            if (cell != 0L && future instanceof CompletableFuture) {
                ((CompletableFuture<?>) future).whenComplete(new AsyncEnd(cell));
                cell = 0L;
            }
        } catch (Throwable ignored) {
            // the step ends now
        }
        if (cell != 0L) {
            OspreyNative.completeDeferred(cell, 0, null, null);
        }
        Osprey.exit(handle);
    }

    /** Completes a deferred step end with the response's status or the failure; runs once. */
    static final class AsyncEnd implements BiConsumer<Object, Throwable> {
        private final long cell;

        AsyncEnd(long cell) {
            this.cell = cell;
        }

        @Override
        public void accept(Object response, Throwable failure) {
            int status = 0;
            String type = null;
            String message = null;
            try {
                Object code = response == null ? null : jdkApi(response).call(2, response);
                if (code instanceof Integer) {
                    status = (Integer) code;
                }
                Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure;
                if (cause != null) {
                    type = cause.getClass().getName();
                    message = message(cause, null);
                } else if (status >= 500) {
                    type = "HTTP " + status;
                    message = "response status " + status;
                }
            } catch (Throwable ignored) {
                // completed without details
            }
            OspreyNative.completeDeferred(cell, status, type, message);
        }
    }

    /** Exceptional exit of {@code send} (or of Apache's {@code doExecute}). */
    public static void exitError(Throwable thrown, long handle) {
        if (handle != 0L) {
            finish(handle, -1, thrown, null);
        }
    }

    /**
     * End of the constructor {@code HttpRequestImpl(HttpRequest, ProxySelector)}, which the client
     * runs on the calling thread to copy the application's request: adds {@code traceparent} to
     * its system headers, unless the application's headers have one.
     */
    public static void jdkRequest(Object requestImpl, Object systemHeaders) {
        if (!Osprey.enabled || requestImpl == null || systemHeaders == null) {
            return;
        }
        try {
            String header = TraceContext.outgoing(OspreyNative.traceparent());
            if (header == null) {
                return;
            }
            Object headers = jdkApi(requestImpl).call(3, requestImpl);
            String state = TraceContext.outgoingState();
            if (headers != null) {
                Method first = find(headers.getClass(), "firstValue", String.class);
                Object value = first.invoke(headers, TRACEPARENT);
                if (value instanceof Optional && ((Optional<?>) value).isPresent()) {
                    return;
                }
                if (state != null) {
                    Object own = first.invoke(headers, TraceContext.TRACESTATE);
                    if (own instanceof Optional && ((Optional<?>) own).isPresent()) {
                        state = null; // the application's own
                    }
                }
            }
            Method set = headersSetter;
            if (set == null || set.getDeclaringClass() != systemHeaders.getClass()) {
                set = systemHeaders.getClass().getMethod("setHeader", String.class, String.class);
                headersSetter = set;
            }
            set.invoke(systemHeaders, TRACEPARENT, header);
            if (state != null) {
                set.invoke(systemHeaders, TraceContext.TRACESTATE, state);
            }
        } catch (Throwable ignored) {
            // the step is recorded without propagation
        }
    }

    /** {@code java.net.http}'s public API: request uri, method, response statusCode, request headers. */
    private static Reflected jdkApi(Object target) throws Exception {
        Reflected r = jdkApi;
        if (r == null) {
            ClassLoader loader = target.getClass().getClassLoader();
            Class<?> request = Class.forName("java.net.http.HttpRequest", false, loader);
            Class<?> response = Class.forName("java.net.http.HttpResponse", false, loader);
            r = new Reflected(request, request.getMethod("uri"), request.getMethod("method"),
                    response.getMethod("statusCode"), request.getMethod("headers"));
            jdkApi = r;
        }
        return r;
    }

    // ---- Apache HttpClient 4 and 5 (classic) ----

    /** Entry of {@code InternalHttpClient/MinimalHttpClient.doExecute(target, request, context)}. */
    public static long apacheEnter(Object target, Object request) {
        if (!Osprey.enabled || request == null) {
            return 0L;
        }
        try {
            Reflected req = apacheRequest(request);
            String method;
            String uri;
            if (req.methods[0] != null && req.methods[1] != null) { // HttpClient 5: getMethod(), getUri()
                method = req.string(0, request);
                uri = req.string(1, request);
            } else { // HttpClient 4: getRequestLine().getMethod() / getUri()
                Object line = req.call(2, request);
                Method m = find(line.getClass(), "getMethod");
                Method u = find(line.getClass(), "getUri");
                method = String.valueOf(m.invoke(line));
                uri = String.valueOf(u.invoke(line));
            }
            String host = null;
            int port = -1;
            String scheme = null;
            if (target != null) {
                Reflected h = apacheHost(target);
                host = h.string(0, target);
                Object p = h.call(1, target);
                port = p instanceof Integer ? (Integer) p : -1;
                scheme = h.string(2, target);
                if (uri != null && !uri.contains("://")) {
                    uri = h.string(3, target) + (uri.startsWith("/") ? "" : "/") + uri;
                }
            }
            if (uri != null && (host == null || scheme == null || port < 0)) {
                URI u = URI.create(uri);
                host = host != null ? host : u.getHost();
                scheme = scheme != null ? scheme : u.getScheme();
                port = port >= 0 ? port : u.getPort();
            }
            long handle = start(method, host, port(port, scheme), uri);
            if (handle == 0L) {
                return 0L;
            }
            try {
                apacheInject(req, request);
            } catch (Throwable ignored) {
                // the step is recorded without propagation
            }
            return handle;
        } catch (Throwable t) {
            return 0L;
        }
    }

    private static void apacheInject(Reflected req, Object request) throws Exception {
        String header = TraceContext.outgoing(OspreyNative.traceparent());
        if (header == null) {
            return;
        }
        Object has = req.methods[3].invoke(request, TRACEPARENT);
        boolean ours = INJECTED.containsKey(request);
        if (Boolean.TRUE.equals(has) && !ours) {
            return; // the application's own
        }
        req.methods[4].invoke(request, TRACEPARENT, header);
        String state = TraceContext.outgoingState();
        if (state != null && (ours || !Boolean.TRUE.equals(req.methods[3].invoke(request, TraceContext.TRACESTATE)))) {
            req.methods[4].invoke(request, TraceContext.TRACESTATE, state);
        }
        INJECTED.put(request, Boolean.TRUE);
    }

    /** Normal exit of {@code doExecute}: the response's status ends the step. */
    public static void apacheExit(Object response, long handle) {
        if (handle == 0L) {
            return;
        }
        int status = -1;
        try {
            if (response != null) {
                Reflected r = apacheResponse(response);
                Object code;
                if (r.methods[0] != null) { // 5: getCode()
                    code = r.call(0, response);
                } else { // 4: getStatusLine().getStatusCode()
                    Object line = r.call(1, response);
                    code = find(line.getClass(), "getStatusCode").invoke(line);
                }
                if (code instanceof Integer) {
                    status = (Integer) code;
                }
            }
        } catch (Throwable ignored) {
            // no status
        }
        finish(handle, status, null, null);
    }

    private static Reflected apacheRequest(Object request) {
        Class<?> c = request.getClass();
        Reflected r = apacheRequest;
        if (r == null || r.type != c) {
            Method setter = find(c, "setHeader", String.class, Object.class); // 5
            if (setter == null) {
                setter = find(c, "setHeader", String.class, String.class); // 4
            }
            r = new Reflected(c, find(c, "getMethod"), find(c, "getUri"), find(c, "getRequestLine"),
                    find(c, "containsHeader", String.class), setter);
            apacheRequest = r;
        }
        return r;
    }

    private static Reflected apacheHost(Object host) {
        Class<?> c = host.getClass();
        Reflected r = apacheHost;
        if (r == null || r.type != c) {
            r = new Reflected(c, find(c, "getHostName"), find(c, "getPort"), find(c, "getSchemeName"),
                    find(c, "toURI"));
            apacheHost = r;
        }
        return r;
    }

    private static Reflected apacheResponse(Object response) {
        Class<?> c = response.getClass();
        Reflected r = apacheResponse;
        if (r == null || r.type != c) {
            r = new Reflected(c, find(c, "getCode"), find(c, "getStatusLine"));
            apacheResponse = r;
        }
        return r;
    }

    // ---- shared ----

    /**
     * Opens the CLIENT step {@code METHOD host:port} with its request attributes; 0 outside a
     * transaction.
     */
    public static long start(String method, String host, int port, String url) {
        String m = method == null ? "GET" : method;
        String name = m + " " + (host == null ? "unknown" : host) + (port < 0 ? "" : ":" + port);
        int id = nameId(name);
        if (id < 0) {
            return 0L;
        }
        long h = id < OspreyNative.OVERFLOW_IDS ? OspreyNative.enterName(name, OspreyNative.STEP_HTTP)
                : OspreyNative.enter(id, OspreyNative.STEP_HTTP);
        if (h == 0L) {
            return 0L;
        }
        // Entered: from here on the handle must reach exit, whatever happens.
        try {
            ValueNames.attr(h, kMethod, m);
            if (url != null) {
                OspreyNative.attrStr(h, kUrl, fullUrl(url));
            }
            if (host != null) {
                ValueNames.attr(h, kAddress, host);
            }
            if (port >= 0) {
                OspreyNative.attrLong(h, kPort, port);
            }
        } catch (Throwable ignored) {
            // attributes are best effort
        }
        return h;
    }

    /**
     * Records the status ({@code < 0}: none) and ends the step. An error when the status is 500 or
     * more, or when {@code thrown} came without a status; a 4xx with an exception (as {@code
     * HttpURLConnection} throws for 404) is the server's answer, not a failure of the call.
     */
    public static void finish(long handle, int status, Throwable thrown, String url) {
        try {
            if (status >= 0) {
                OspreyNative.attrLong(handle, kStatus, status);
            }
            if (thrown != null && (status < 0 || status >= 500)) {
                Osprey.recordError(handle, thrown, message(thrown, url));
            } else if (status >= 500) {
                OspreyNative.error(handle, "HTTP " + status, "response status " + status, null);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
        Osprey.exit(handle);
    }

    /**
     * The exception's message with every URL in it (as {@code HttpURLConnection} puts the request
     * URL in its messages) masked like {@code url.full}.
     */
    public static String message(Throwable thrown, String url) {
        String m = String.valueOf(thrown.getMessage());
        if (url != null && m.contains(url)) {
            m = m.replace(url, fullUrl(url));
        }
        int q = m.indexOf('?');
        if (q >= 0 && m.indexOf("://") >= 0 && m.indexOf("://") < q) {
            int end = m.indexOf(' ', q);
            end = end < 0 ? m.length() : end;
            m = m.substring(0, q) + fullUrl("x://h/" + m.substring(q, end)).substring("x://h/".length())
                    + m.substring(end);
        }
        return m;
    }

    /** The port, or the scheme's default (80, 443) when {@code port < 0}. */
    public static int port(int port, String scheme) {
        if (port >= 0) {
            return port;
        }
        return "https".equalsIgnoreCase(scheme) ? 443 : "http".equalsIgnoreCase(scheme) ? 80 : -1;
    }

    /**
     * The URL without user info and fragment, each query value replaced by {@code ?} (the
     * recorder's sanitiser does the same to {@code url.full}; doing it here too keeps values out
     * of memory queues).
     */
    public static String fullUrl(String url) {
        String u = url;
        int hash = u.indexOf('#');
        if (hash >= 0) {
            u = u.substring(0, hash);
        }
        int scheme = u.indexOf("://");
        if (scheme >= 0) {
            int hostStart = scheme + 3;
            int pathStart = u.length();
            for (int i = hostStart; i < u.length(); i++) {
                char ch = u.charAt(i);
                if (ch == '/' || ch == '?') {
                    pathStart = i;
                    break;
                }
            }
            int at = u.lastIndexOf('@', pathStart - 1);
            if (at >= hostStart) {
                u = u.substring(0, hostStart) + u.substring(at + 1);
            }
        }
        int q = u.indexOf('?');
        if (q < 0) {
            return u;
        }
        StringBuilder sb = new StringBuilder(u.length()).append(u, 0, q + 1);
        String[] pairs = u.substring(q + 1).split("&", -1);
        for (int i = 0; i < pairs.length; i++) {
            if (i > 0) {
                sb.append('&');
            }
            int eq = pairs[i].indexOf('=');
            sb.append(eq < 0 ? pairs[i] : pairs[i].substring(0, eq + 1) + "?");
        }
        return sb.toString();
    }

    private static int nameId(String name) {
        Integer id = NAME_IDS.get(name);
        if (id != null) {
            return id;
        }
        // Outside any lock; idempotent: a race interns the same id twice.
        int fresh = OspreyNative.internStep(name, OspreyNative.STEP_HTTP);
        if (fresh >= OspreyNative.OVERFLOW_IDS && NAME_IDS.size() < MAX_NAME_IDS) {
            NAME_IDS.put(name, fresh);
        }
        return fresh;
    }

    /**
     * The public method {@code name(args)} of {@code type}, declared by a public type so that it
     * can be invoked (a library may return a package-private class, as HttpClient 4's response
     * proxy); null when there is none.
     */
    static Method find(Class<?> type, String name, Class<?>... args) {
        try {
            Method m = type.getMethod(name, args);
            if (Modifier.isPublic(m.getDeclaringClass().getModifiers())) {
                return m;
            }
            for (Class<?> c = type; c != null; c = c.getSuperclass()) {
                if (Modifier.isPublic(c.getModifiers())) {
                    return c.getMethod(name, args);
                }
                Method viaInterface = fromInterfaces(c, name, args);
                if (viaInterface != null) {
                    return viaInterface;
                }
            }
            return null;
        } catch (Throwable t) {
            return null;
        }
    }

    private static Method fromInterfaces(Class<?> type, String name, Class<?>... args) {
        for (Class<?> i : type.getInterfaces()) {
            if (Modifier.isPublic(i.getModifiers())) {
                try {
                    return i.getMethod(name, args);
                } catch (NoSuchMethodException e) {
                    // try the next one
                }
            }
            Method m = fromInterfaces(i, name, args);
            if (m != null) {
                return m;
            }
        }
        return null;
    }

    /** Public methods of one class, looked up once; a missing one is null. */
    static final class Reflected {
        final Class<?> type;
        final Method[] methods;

        Reflected(Class<?> type, Method... methods) {
            this.type = type;
            this.methods = methods;
        }

        Object call(int i, Object target) {
            Method m = methods[i];
            if (m == null) {
                return null;
            }
            try {
                return m.invoke(target);
            } catch (Throwable t) {
                return null;
            }
        }

        String string(int i, Object target) {
            Object v = call(i, target);
            return v == null ? null : v.toString();
        }
    }
}
