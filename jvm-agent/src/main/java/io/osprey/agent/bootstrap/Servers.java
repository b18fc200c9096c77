package io.osprey.agent.bootstrap;

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

    private Servers() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kMethod = OspreyNative.intern("http.request.method");
        kPath = OspreyNative.intern("url.path");
        kStatus = OspreyNative.intern("http.response.status_code");
        kClient = OspreyNative.intern("client.address");
        kAgent = OspreyNative.intern("user_agent.original");
        kThread = OspreyNative.intern("thread.name");
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
        String method;
        String path;
        String client;
        String agent;
        try {
            Accessors a = accessors(request, true);
            method = a.string(a.method, request, null);
            path = path(a.string(a.uri, request, null));
            String traceparent = a.string(a.header, request, "traceparent");
            client = a.string(a.remoteAddr, request, null);
            agent = a.string(a.header, request, "user-agent");
            String name = (method == null ? "HTTP" : method) + " " + (path == null ? "/" : path);
            if (OspreyNative.begin(name, OspreyNative.TXN_SERVER, traceparent) != OspreyNative.OK) {
                return 0L;
            }
            Osprey.began(name);
        } catch (Throwable t) {
            return 0L;
        }
        // Begun: from here on the handle must reach exit, whatever happens.
        try {
            str(kMethod, method);
            str(kPath, path);
            str(kClient, client);
            str(kAgent, agent);
            str(kThread, Thread.currentThread().getName());
        } catch (Throwable ignored) {
            // attributes are best effort
        }
        return Osprey.TXN;
    }

    /**
     * Normal exit: records the response status and the exception the servlet container caught
     * (the {@code *.servlet.error.exception} request attribute), marks 5xx as an error, ends the
     * transaction.
     */
    public static void exit(long handle, Object request, Object response) {
        if (handle != Osprey.TXN) {
            return;
        }
        try {
            int status = -1;
            if (response != null) {
                Accessors r = accessors(response, false);
                Object v = r.call(r.status, response, null);
                if (v instanceof Integer) {
                    status = (Integer) v;
                    OspreyNative.attrLong(-1L, kStatus, status);
                }
            }
            Throwable thrown = null;
            if (request != null) {
                Accessors a = accessors(request, true);
                Object t = a.call(a.attribute, request, ERROR_EXCEPTION_JAKARTA);
                if (!(t instanceof Throwable)) {
                    t = a.call(a.attribute, request, ERROR_EXCEPTION_JAVAX);
                }
                if (t instanceof Throwable) {
                    thrown = (Throwable) t;
                }
            }
            if (thrown != null) {
                Osprey.recordError(-1L, thrown);
            } else if (status >= 500) {
                OspreyNative.error(-1L, "HTTP " + status, "response status " + status, null);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
        Osprey.exit(handle);
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

    /** Public accessors of one request or response class, looked up once. */
    static final class Accessors {
        final Class<?> type;
        final Method method;
        final Method uri;
        final Method header;
        final Method remoteAddr;
        final Method attribute;
        final Method status;

        Accessors(Class<?> type) {
            this.type = type;
            this.method = find(type, "getMethod");
            this.uri = find(type, "getRequestURI");
            this.header = find(type, "getHeader", String.class);
            this.remoteAddr = find(type, "getRemoteAddr");
            this.attribute = find(type, "getAttribute", String.class);
            this.status = find(type, "getStatus");
        }

        private static Method find(Class<?> type, String name, Class<?>... args) {
            try {
                return type.getMethod(name, args);
            } catch (Throwable t) {
                return null;
            }
        }

        Object call(Method m, Object target, String arg) {
            if (m == null) {
                return null;
            }
            try {
                return arg == null ? m.invoke(target) : m.invoke(target, arg);
            } catch (Throwable t) {
                return null;
            }
        }

        String string(Method m, Object target, String arg) {
            Object v = call(m, target, arg);
            return v == null ? null : v.toString();
        }
    }
}
