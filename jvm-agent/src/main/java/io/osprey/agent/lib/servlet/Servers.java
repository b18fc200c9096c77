package io.osprey.agent.lib.servlet;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Endpoints;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;

/**
 * Server transactions for the Tomcat instrumentation. The request and response are passed as
 * {@code Object}: this class is on the boot class path and cannot see the server's classes, so
 * their accessors are found by name with reflection (once per class) and any failure simply
 * leaves an attribute out. Nothing here throws.
 */
public final class Servers {
    private static final String ERROR_EXCEPTION_JAKARTA = "jakarta.servlet.error.exception";
    private static final String ERROR_EXCEPTION_JAVAX = "javax.servlet.error.exception";

    private static volatile Accessors requestAccessors;
    private static volatile Accessors responseAccessors;

    private static int kMethod = -1;
    private static int kPath = -1;
    private static int kStatus = -1;
    private static int kClient = -1;
    private static int kAgent = -1;
    private static int kThread = -1;
    private static int kPeer = -1;
    private static int kUser = -1;
    private static int kQuery = -1;
    private static int kRoute = -1;

    /** The request attribute Spring MVC's handler mapping sets to the pattern it matched. */
    static final String SPRING_PATTERN = "org.springframework.web.servlet.HandlerMapping.bestMatchingPattern";

    /** Handle of an entry that attached a parked asynchronous request's transaction. */
    static final long RESUMED = Long.MIN_VALUE + 1;

    /** Per thread: nesting of {@code HttpServlet.service} and the exception recorded from it. */
    private static final ThreadLocal<ServletState> SERVLET = new ThreadLocal<ServletState>() {
        @Override
        protected ServletState initialValue() {
            return new ServletState();
        }
    };

    /** Undertow's {@code ServletRequestContext} accessors, looked up once per class. */
    private static volatile Accessors contextAccessors;
    /** Accessors of the request class {@code HttpServlet.service} sees (a facade or wrapper). */
    private static volatile Accessors routeAccessors;
    /** Accessors of the container's {@code HttpServletMapping} class. */
    private static volatile Accessors mappingAccessors;

    private Servers() {}

    /**
     * Interns the attribute keys and applies the request settings ({@code http.client_ip_header},
     * {@code http.user}, {@code http.query.allow}); called once by the agent after the recorder
     * started. Returns a complaint about a malformed setting, or null.
     */
    public static String init(String clientIpHeader, String user, String queryAllow) {
        String complaint = RequestFacts.configure(clientIpHeader, user, queryAllow);
        kMethod = OspreyNative.intern("http.request.method");
        kPath = OspreyNative.intern("url.path");
        kStatus = OspreyNative.intern("http.response.status_code");
        kClient = OspreyNative.intern("client.address");
        kAgent = OspreyNative.intern("user_agent.original");
        kThread = OspreyNative.intern("thread.name");
        kPeer = OspreyNative.intern("network.peer.address");
        kUser = OspreyNative.intern("user.id");
        kQuery = OspreyNative.intern("url.query");
        kRoute = OspreyNative.intern("http.route");
        return complaint;
    }

    /**
     * Entry of the server's request processing (Tomcat's {@code StandardHostValve.invoke}):
     * begins a SERVER transaction named {@code METHOD /path} unless one is open on the thread
     * (filters, forwards, includes and error pages re-enter), continuing an inbound {@code
     * traceparent}. Returns {@link Osprey#TXN} when it began one, else 0.
     */
    public static long enter(Object request) {
        if (!Osprey.enabled || request == null) {
            return 0L;
        }
        try {
            ServletState resumed = SERVLET.get();
            resumed.direct = null;
            if (AsyncRequests.resume(request, accessors(request, true))) {
                // A dispatch of a parked request: it keeps the name it has (a dispatch to a
                // JSP or another servlet does not rename it).
                resumed.routed = true;
                resumed.outer = null;
                resumed.mappingRoute = null;
                return RESUMED;
            }
        } catch (Throwable t) {
            return 0L;
        }
        String method;
        String path;
        String agent;
        RequestFacts facts;
        try {
            Accessors a = accessors(request, true);
            ServletState state = SERVLET.get();
            method = a.string(a.method, request, null);
            TomcatRequests tomcat = TomcatRequests.of(request);
            if (tomcat != null) {
                path = path(tomcat.uri(a, request, state));
                state.directRouted = tomcat.routed(request);
                state.direct = tomcat.facade(request);
            } else {
                path = path(a.string(a.uri, request, null));
            }
            agent = a.string(a.header, request, "user-agent");
            facts = RequestFacts.read(a, request, state.facts);
            String name = state.name(Endpoints.method(method), Routes.normalize(path));
            if (!Endpoints.known(name)) {
                name = Endpoints.other(method);
            }
            if (OspreyNative.begin(name, OspreyNative.TXN_SERVER, facts.inboundParent) != OspreyNative.OK) {
                return 0L;
            }
            state.txnName = name;
            state.txnMethod = method;
            state.routed = false;
            Osprey.began(name);
            TraceContext.set(facts.inbound);
        } catch (Throwable t) {
            return 0L;
        }
        // Begun: from here on the handle must reach exit, whatever happens.
        try {
            entryAttributes(method, path, facts.clientAddress, agent);
            str(kPeer, facts.peerAddress);
            str(kUser, facts.user);
            str(kQuery, facts.query);
        } catch (Throwable ignored) {
            // attributes are best effort
        }
        return Osprey.TXN;
    }

    /**
     * The attributes every server transaction (a servlet container's, WebFlux's) gets where it
     * begins, on this thread's open transaction: method, raw path, client address, user agent
     * (null ones left out) and the thread's name. Call only after {@link #init}.
     */
    public static void entryAttributes(String method, String path, String client, String agent) {
        ValueNames.attr(-1L, kMethod, method);
        str(kPath, path);
        str(kClient, client);
        str(kAgent, agent);
        SERVLET.get().threadName(kThread);
    }

    /** {@code http.route} and the response status (negative: none) of this thread's transaction. */
    public static void outcomeAttributes(String route, int status) {
        if (route != null) {
            ValueNames.attr(-1L, kRoute, route);
        }
        if (status >= 0 && kStatus >= 0) {
            OspreyNative.attrLong(-1L, kStatus, status);
        }
    }

    /**
     * Normal exit: records the response status and the exception the servlet container caught
     * (the {@code *.servlet.error.exception} request attribute), marks 5xx as an error, ends the
     * transaction.
     */
    public static void exit(long handle, Object request, Object response) {
        if (handle != Osprey.TXN && handle != RESUMED) {
            return;
        }
        Throwable thrown = null;
        boolean errorKnown = false;
        try {
            SERVLET.get().direct = null;
            if (request != null) {
                Accessors a = accessors(request, true);
                if (handle == Osprey.TXN) {
                    finishName(SERVLET.get());
                }
                if (AsyncRequests.park(request, a, handle == RESUMED)) {
                    TraceContext.set(null); // parked with the transaction
                    return; // ends when the container completes the request
                }
                Object t = a.call(a.attribute, request, ERROR_EXCEPTION_JAKARTA);
                if (!(t instanceof Throwable)) {
                    t = a.call(a.attribute, request, ERROR_EXCEPTION_JAVAX);
                }
                ServletState servlet = SERVLET.get();
                errorKnown = servlet.recorded != null;
                if (t instanceof Throwable && t != servlet.recorded) {
                    thrown = (Throwable) t;
                }
                servlet.recorded = null;
            }
        } catch (Throwable ignored) {
            // never into the application
        }
        outcome(response, thrown, false, errorKnown);
        TraceContext.set(null);
        Osprey.exit(Osprey.TXN);
    }

    /** Undertow's entry ({@code handleFirstRequest}): {@link #enter} with the context's request. */
    public static long enterUndertow(Object context) {
        if (!Osprey.enabled || context == null) {
            return 0L;
        }
        try {
            Accessors c = contextAccessors(context);
            return enter(c.call(c.servletRequest, context, null));
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Undertow's normal exit: {@link #exit} with the context's request and response. */
    public static void exitUndertow(long handle, Object context) {
        if (handle != Osprey.TXN && handle != RESUMED) {
            return;
        }
        Object request = null;
        Object response = null;
        try {
            Accessors c = contextAccessors(context);
            request = c.call(c.servletRequest, context, null);
            response = c.call(c.servletResponse, context, null);
        } catch (Throwable ignored) {
            // ends below without them
        }
        exit(handle, request, response);
    }

    /**
     * Entry of {@code HttpServlet.service}: one level deeper; at the outermost, names the
     * transaction after the servlet's route when it is mapped by prefix or extension. Returns 1, or
     * 0 when off.
     */
    public static long servletEnter(Object request) {
        if (!Osprey.enabled) {
            return 0L;
        }
        try {
            ServletState s = SERVLET.get();
            if (s.depth == 0) {
                s.recorded = null;
                s.outer = request;
                // The container's own request, mapped exactly (or by default): no route to ask for.
                boolean plain = s.routed || request == null || (request == s.direct && !s.directRouted);
                String route = plain ? null : route(request, s);
                if (route != null && rename(s, route, null)) {
                    s.mappingRoute = s.lastRoutePath; // http.route unless a framework names it
                }
            }
            s.depth++;
            return 1L;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * {@code METHOD /context/pattern} for a request whose servlet mapping (Servlet 4+) matched by
     * {@code PATH} or {@code EXTENSION}; null otherwise (exact, default and root mappings keep the
     * path). The thread's previous route when it is the same ({@code s}).
     */
    static String route(Object request, ServletState s) {
        Accessors a = routeAccessors(request);
        if (a.mapping == null) {
            return null;
        }
        Object mapping = a.call(a.mapping, request, null);
        if (mapping == null) {
            return null;
        }
        Accessors m = mappingAccessors;
        if (m == null || m.type != mapping.getClass()) {
            m = new Accessors(mapping.getClass());
            mappingAccessors = m;
        }
        Object match = m.call(m.mappingMatch, mapping, null);
        String kind = match == null ? "" : match.toString();
        if (!kind.equals("PATH") && !kind.equals("EXTENSION")) {
            return null;
        }
        Object pattern = m.call(m.pattern, mapping, null);
        if (pattern == null) {
            return null;
        }
        String context = a.string(a.contextPath, request, null);
        String method = a.string(a.method, request, null);
        return s.route(Endpoints.method(method), context == null ? "" : context, pattern.toString());
    }

    /**
     * Normal exit of {@code HttpServlet.service}: at the outermost, names the transaction after
     * the framework's route when there is one ({@link #frameworkRoute}).
     */
    public static void servletExit(long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            ServletState s = SERVLET.get();
            if (--s.depth == 0) {
                frameworkRoute(s);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * After the first outermost servlet of a transaction: Spring MVC's best-matching pattern
     * ({@code GET /owners/{ownerId}}, under the context path, and under the servlet's path prefix
     * when it is mapped by one) renames it and becomes {@code http.route}. Only this first dispatch names the transaction: an error page or a dispatch
     * later (Spring Boot's {@code /error}) does not rename it again.
     */
    static void frameworkRoute(ServletState s) {
        Object request = s.outer;
        String mapping = s.mappingRoute;
        s.outer = null;
        s.mappingRoute = null;
        if (s.routed || request == null || s.txnName == null) {
            return;
        }
        s.routed = true;
        Accessors a = routeAccessors(request);
        Object pattern = a.call(a.attribute, request, SPRING_PATTERN);
        if (!(pattern instanceof String)) {
            if (mapping != null) {
                ValueNames.attr(-1L, kRoute, mapping);
            }
            return;
        }
        String context = a.string(a.contextPath, request, null);
        String method = a.string(a.method, request, null);
        // Mapped by a path prefix (/mvc/*), the DispatcherServlet matches within it.
        String base = mapping != null && mapping.endsWith("/*") ? mapping.substring(0, mapping.length() - 2)
                : context == null ? "" : context;
        String name = s.route(Endpoints.method(method), base, (String) pattern);
        rename(s, name, s.lastRoutePath);
    }

    /**
     * Renames this thread's transaction to {@code name} ({@code METHOD route}; {@code METHOD other}
     * past the cap of distinct names) and records {@code http.route} (when given); false when the
     * cap replaced the name.
     */
    static boolean rename(ServletState s, String name, String route) {
        boolean kept = Endpoints.known(name);
        if (!kept) {
            name = Endpoints.other(s.txnMethod);
            route = null;
        }
        if (!name.equals(s.txnName)) {
            OspreyNative.rename(name);
            s.txnName = name;
        }
        if (route != null) {
            ValueNames.attr(-1L, kRoute, route);
        }
        return kept;
    }

    /**
     * A framework that routes inside a servlet (JAX-RS) names this thread's server transaction
     * {@code METHOD route} with {@code http.route}; the first such call wins and the servlet's
     * own mapping and Spring's pattern are then not used. Never throws.
     */
    public static void namedRoute(String method, String route) {
        if (!Osprey.enabled || route == null) {
            return;
        }
        try {
            ServletState s = SERVLET.get();
            if (s.routed || s.txnName == null) {
                return;
            }
            s.routed = true;
            s.mappingRoute = null;
            rename(s, Endpoints.method(method) + " " + route, route);
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * At the end of the transaction's first entry: admits its final name under the cap of
     * distinct names ({@link Endpoints}), else renames it {@code METHOD other}.
     */
    static void finishName(ServletState s) {
        String name = s.txnName;
        s.txnName = null;
        s.outer = null;
        s.mappingRoute = null;
        s.routed = true; // a later dispatch of a parked request does not rename it
        if (name != null && !Endpoints.admit(name)) {
            String other = Endpoints.other(s.txnMethod);
            if (!other.equals(name)) {
                OspreyNative.rename(other);
            }
        }
    }

    /**
     * {@code thrown} leaves {@code HttpServlet.service}: recorded on the transaction when it leaves
     * the outermost one (an inner servlet's exception may be handled by the outer). The caller
     * rethrows.
     */
    public static void servletError(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            ServletState s = SERVLET.get();
            if (--s.depth == 0 && thrown != s.recorded) {
                Osprey.recordError(-1L, thrown);
                s.recorded = thrown;
            }
            if (s.depth == 0) {
                frameworkRoute(s);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * Exit by an exception thrown out of the container's entry point: records it on the
     * transaction and ends it. The caller rethrows.
     */
    public static void exitError(Throwable thrown, long handle) {
        if (handle != Osprey.TXN && handle != RESUMED) {
            return;
        }
        try {
            SERVLET.get().direct = null;
        } catch (Throwable ignored) {
            // never into the application
        }
        if (handle == Osprey.TXN) {
            try {
                finishName(SERVLET.get());
            } catch (Throwable ignored) {
                // never into the application
            }
        }
        outcome(null, thrown, false, false);
        TraceContext.set(null);
        Osprey.exit(Osprey.TXN);
    }

    /**
     * Records the response status on this thread's transaction and marks it an error for {@code
     * thrown}, a timeout the application did not answer (no status, or a 5xx one), or (unless an
     * error was recorded already: {@code errorKnown}) a 5xx status.
     */
    static void outcome(Object response, Throwable thrown, boolean timedOut, boolean errorKnown) {
        try {
            int status = -1;
            if (response != null) {
                status = accessors(response, false).status(response);
                if (status >= 0) {
                    OspreyNative.attrLong(-1L, kStatus, status);
                }
            }
            if (thrown != null) {
                Osprey.recordError(-1L, thrown);
            } else if (timedOut && (status < 0 || status >= 500)) {
                // Not answered by the application's listeners: the container's error response.
                OspreyNative.error(-1L, "AsyncTimeout", "the asynchronous request timed out", null);
            } else if (status >= 500 && !errorKnown) {
                OspreyNative.error(-1L, "HTTP " + status, "response status " + status, null);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** {@code target.name()} by reflection; null on any failure. */
    static Object call(Object target, String name) {
        if (target == null) {
            return null;
        }
        try {
            Method m = publicMethod(target.getClass(), name);
            return m == null ? null : m.invoke(target);
        } catch (Throwable t) {
            return null;
        }
    }

    /**
     * The public method {@code name(args)} of {@code type}, declared by a public class or interface
     * so that it can be invoked from here (an implementation class is often not public); null when
     * there is none.
     */
    static Method publicMethod(Class<?> type, String name, Class<?>... args) {
        return Reflection.publicMethod(type, name, args);
    }

    /** The path without query string or path parameters ({@code ;jsessionid=...}). */
    public static String path(String uri) {
        if (uri == null) {
            return null;
        }
        int cut = uri.length();
        int q = uri.indexOf('?');
        if (q >= 0) {
            cut = q;
        }
        int semi = uri.indexOf(';');
        if (semi >= 0 && semi < cut) {
            cut = semi;
        }
        return uri.substring(0, cut);
    }

    private static void str(int key, String value) {
        if (value != null && key >= 0) {
            OspreyNative.attrStr(-1L, key, value);
        }
    }

    private static Accessors routeAccessors(Object request) {
        Accessors a = routeAccessors;
        if (a == null || a.type != request.getClass()) {
            a = new Accessors(request.getClass());
            routeAccessors = a;
        }
        return a;
    }

    private static Accessors contextAccessors(Object context) {
        Accessors c = contextAccessors;
        if (c == null || c.type != context.getClass()) {
            c = new Accessors(context.getClass());
            contextAccessors = c;
        }
        return c;
    }

    private static Accessors accessors(Object target, boolean request) {
        Class<?> c = target.getClass();
        Accessors a = request ? requestAccessors : responseAccessors;
        if (a == null || a.type != c) {
            a = new Accessors(c);
            if (request) {
                requestAccessors = a;
            } else {
                responseAccessors = a;
            }
        }
        return a;
    }

    /**
     * What a request thread keeps between requests: the {@code HttpServlet.service} nesting and
     * the exception recorded from it, plus reused objects so that a request allocates less (the
     * facts read at entry, and the last transaction name, which repeats under load).
     */
    static final class ServletState {
        int depth;
        Throwable recorded;
        final RequestFacts facts = new RequestFacts();
        /**
         * The facade of the request this thread's container entry began with (Tomcat), null when
         * unknown or ended; {@link #directRouted} tells whether it was mapped by path prefix or
         * extension.
         */
        Object direct;
        boolean directRouted;
        /** The open transaction's name and request method; null once its name is final. */
        String txnName;
        String txnMethod;
        /** Whether the transaction was named by its route already (no later dispatch renames it). */
        boolean routed;
        /** The request the outermost {@code HttpServlet.service} runs with, until it returns. */
        Object outer;
        /** The servlet mapping's route, {@code http.route} at the servlet's end unless a framework names one. */
        String mappingRoute;
        /** The previous request URI and the raw bytes it was decoded from ({@link TomcatRequests}). */
        String uri;
        private byte[] uriBytes;
        private int uriLength = -1;
        private Object uriCharset;
        private String lastMethod;
        private String lastPath;
        private String lastName;
        /** This thread's name as last recorded, and its value id ({@link ValueNames}). */
        private String threadName;
        private int threadNameId = -1;

        /** Adds this thread's name as {@code key} to the transaction, by id while it keeps its name. */
        void threadName(int key) {
            String name = Thread.currentThread().getName();
            if (name != threadName) {
                threadName = name;
                threadNameId = ValueNames.id(name);
            }
            ValueNames.attr(-1L, key, name, threadNameId);
        }

        /** Whether {@code bytes[from, to)} in {@code charset} are the bytes {@link #uri} came from. */
        boolean sameUri(byte[] bytes, int from, int to, Object charset) {
            int n = to - from;
            if (n != uriLength || charset != uriCharset || from < 0 || to > bytes.length) {
                return false;
            }
            byte[] mine = uriBytes;
            for (int i = 0; i < n; i++) {
                if (mine[i] != bytes[from + i]) {
                    return false;
                }
            }
            return true;
        }

        /** Keeps {@code uri} and a copy of the bytes it was decoded from. */
        void rememberUri(byte[] bytes, int from, int to, Object charset, String decoded) {
            int n = to - from;
            if (from < 0 || n < 0 || to > bytes.length) {
                return;
            }
            if (uriBytes == null || uriBytes.length < n) {
                uriBytes = new byte[Math.max(n, 64)];
            }
            System.arraycopy(bytes, from, uriBytes, 0, n);
            uriLength = n;
            uriCharset = charset;
            uri = decoded;
        }

        private String lastRouteMethod;
        private String lastRouteContext;
        private String lastRoutePattern;
        private String lastRoute;
        /** {@link #lastRoute} without the method: {@code /context/pattern}, the {@code http.route}. */
        String lastRoutePath;

        /** {@code METHOD /context/pattern}, the previous route's string when all three are the same. */
        String route(String method, String context, String pattern) {
            if (!method.equals(lastRouteMethod) || !context.equals(lastRouteContext)
                    || !pattern.equals(lastRoutePattern)) {
                lastRouteMethod = method;
                lastRouteContext = context;
                lastRoutePattern = pattern;
                lastRoutePath = context + (pattern.startsWith("/") ? pattern : "/" + pattern);
                lastRoute = method + " " + lastRoutePath;
            }
            return lastRoute;
        }

        /** {@code METHOD /path}, the previous request's string when both are the same. */
        String name(String method, String path) {
            String m = method == null ? "HTTP" : method;
            String p = path == null ? "/" : path;
            if (!m.equals(lastMethod) || !p.equals(lastPath)) {
                lastMethod = m;
                lastPath = p;
                lastName = m + " " + p;
            }
            return lastName;
        }
    }

    /** Public accessors of one request, response or context class, looked up once. */
    static final class Accessors {
        private static final MethodType GETTER = MethodType.methodType(Object.class, Object.class);
        private static final MethodType GETTER_ARG =
                MethodType.methodType(Object.class, Object.class, Object.class);
        private static final MethodType INT_GETTER = MethodType.methodType(int.class, Object.class);

        final Class<?> type;
        final MethodHandle method;
        final MethodHandle uri;
        final MethodHandle header;
        /** {@code getHeaders(String)}: every line of a header, as an {@code Enumeration}. */
        final MethodHandle headers;
        final MethodHandle remoteAddr;
        final MethodHandle remoteUser;
        final MethodHandle queryString;
        final MethodHandle attribute;
        /** {@code int getStatus()}, unboxed. */
        final MethodHandle status;
        final MethodHandle asyncStarted;
        final MethodHandle asyncContext;
        /** Two arguments: through reflection, used once per asynchronous request. */
        final Method setAttribute;
        final MethodHandle servletRequest;
        final MethodHandle servletResponse;
        final MethodHandle mapping;
        final MethodHandle contextPath;
        final MethodHandle mappingMatch;
        final MethodHandle pattern;

        Accessors(Class<?> type) {
            this.type = type;
            this.method = find(type, "getMethod");
            this.uri = find(type, "getRequestURI");
            this.header = find(type, "getHeader", String.class);
            this.headers = find(type, "getHeaders", String.class);
            this.remoteAddr = find(type, "getRemoteAddr");
            this.remoteUser = find(type, "getRemoteUser");
            this.queryString = find(type, "getQueryString");
            this.attribute = find(type, "getAttribute", String.class);
            this.status = handle(publicMethod(type, "getStatus"), INT_GETTER);
            this.asyncStarted = find(type, "isAsyncStarted");
            this.asyncContext = find(type, "getAsyncContext");
            this.setAttribute = publicMethod(type, "setAttribute", String.class, Object.class);
            this.servletRequest = find(type, "getServletRequest");
            this.servletResponse = find(type, "getServletResponse");
            this.mapping = find(type, "getHttpServletMapping");
            this.contextPath = find(type, "getContextPath");
            this.mappingMatch = find(type, "getMappingMatch");
            this.pattern = find(type, "getPattern");
        }

        /**
         * The public method as a handle of type {@code (Object)Object} or, with one argument,
         * {@code (Object,Object)Object}: invoked with {@code invokeExact}, it allocates no argument
         * array (reflection's {@code Method.invoke} does, per call).
         */
        private static MethodHandle find(Class<?> type, String name, Class<?>... args) {
            return handle(publicMethod(type, name, args), args.length == 0 ? GETTER : GETTER_ARG);
        }

        /** {@code m} as a handle of type {@code as}; null when absent or not accessible. */
        static MethodHandle handle(Method m, MethodType as) {
            if (m == null) {
                return null;
            }
            try {
                return MethodHandles.publicLookup().unreflect(m).asType(as);
            } catch (Throwable t) {
                return null;
            }
        }

        Object call(MethodHandle h, Object target, String arg) {
            if (h == null) {
                return null;
            }
            try {
                return arg == null ? (Object) h.invokeExact(target) : (Object) h.invokeExact(target, (Object) arg);
            } catch (Throwable t) {
                return null;
            }
        }

        /**
         * Every line of header {@code name} ({@code first}, the first, already read: null when
         * absent); just {@code first} when the request cannot list them.
         */
        String[] headerLines(Object request, String name, String first) {
            if (first == null) {
                return null;
            }
            Object all = call(headers, request, name);
            if (!(all instanceof java.util.Enumeration)) {
                return new String[] {first};
            }
            java.util.List<String> out = new java.util.ArrayList<String>(2);
            java.util.Enumeration<?> e = (java.util.Enumeration<?>) all;
            while (e.hasMoreElements() && out.size() < 64) {
                Object v = e.nextElement();
                if (v != null) {
                    out.add(v.toString());
                }
            }
            return out.isEmpty() ? new String[] {first} : out.toArray(new String[0]);
        }

        String string(MethodHandle h, Object target, String arg) {
            Object v = call(h, target, arg);
            return v == null ? null : v.toString();
        }

        /** {@code getStatus()} of a response; -1 when unknown. */
        int status(Object response) {
            if (status == null) {
                return -1;
            }
            try {
                return (int) status.invokeExact(response);
            } catch (Throwable t) {
                return -1;
            }
        }
    }
}
