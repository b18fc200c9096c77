package io.osprey.agent.lib.servlet;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * What a Tomcat connector request ({@code org.apache.catalina.connector.Request}) tells without
 * allocating, for {@link Servers#enter}:
 *
 * <ul>
 *   <li>its URI: {@code getRequestURI()} decodes the connector's raw bytes into a new String on its
 *       first call per request, so the raw bytes are compared with the previous request's on the
 *       thread and, when equal (same bytes, same charset), the previous String is reused;
 *   <li>how it was mapped to its servlet: the connector's {@code MappingData.matchType}, so that
 *       {@link Servers#servletEnter} only asks {@code getHttpServletMapping()} (which builds an
 *       object) when the match is by path prefix or extension.
 * </ul>
 *
 * Handles are found by name once per request class, through the declared return types (no class
 * is loaded by name); on other containers they are absent and callers take the portable path.
 * Nothing here throws.
 */
final class TomcatRequests {
    private static final MethodType GETTER = MethodType.methodType(Object.class, Object.class);
    private static final MethodType INT_GETTER = MethodType.methodType(int.class, Object.class);
    /** Longest URI whose bytes a thread keeps for the comparison. */
    private static final int MAX_CACHED_URI = 2048;

    private static volatile TomcatRequests known;

    final Class<?> type;
    /** {@code getRequest()}: the facade the servlets see. */
    private final MethodHandle facade;
    /** {@code getMappingData().matchType}. */
    private final MethodHandle mappingData;
    private final MethodHandle matchType;
    /** {@code getCoyoteRequest().requestURI()}, a {@code MessageBytes}, and its byte chunk. */
    private final MethodHandle coyote;
    private final MethodHandle requestUri;
    private final MethodHandle bytesType;
    private final MethodHandle byteChunk;
    private final MethodHandle buffer;
    private final MethodHandle start;
    private final MethodHandle end;
    private final MethodHandle charset;
    /** {@code MessageBytes.T_BYTES}. */
    private final int tBytes;

    private TomcatRequests(Class<?> type) {
        this.type = type;
        Method getRequest = Servers.publicMethod(type, "getRequest");
        this.facade = handle(getRequest, GETTER);
        Method getMappingData = Servers.publicMethod(type, "getMappingData");
        this.mappingData = handle(getMappingData, GETTER);
        this.matchType = getMappingData == null ? null : field(getMappingData.getReturnType(), "matchType");
        Method getCoyote = Servers.publicMethod(type, "getCoyoteRequest");
        this.coyote = handle(getCoyote, GETTER);
        Method uri = getCoyote == null ? null : Servers.publicMethod(getCoyote.getReturnType(), "requestURI");
        this.requestUri = handle(uri, GETTER);
        Class<?> bytes = uri == null ? null : uri.getReturnType();
        this.bytesType = bytes == null ? null : handle(Servers.publicMethod(bytes, "getType"), INT_GETTER);
        Method getChunk = bytes == null ? null : Servers.publicMethod(bytes, "getByteChunk");
        this.byteChunk = handle(getChunk, GETTER);
        Class<?> chunk = getChunk == null ? null : getChunk.getReturnType();
        this.buffer = chunk == null ? null : handle(Servers.publicMethod(chunk, "getBuffer"), GETTER);
        this.start = chunk == null ? null : handle(Servers.publicMethod(chunk, "getStart"), INT_GETTER);
        this.end = chunk == null ? null : handle(Servers.publicMethod(chunk, "getEnd"), INT_GETTER);
        this.charset = chunk == null ? null : handle(Servers.publicMethod(chunk, "getCharset"), GETTER);
        this.tBytes = constant(bytes, "T_BYTES");
    }

    /** The handles for {@code request}'s class; null when it is not a Tomcat connector request. */
    static TomcatRequests of(Object request) {
        Class<?> c = request.getClass();
        TomcatRequests t = known;
        if (t == null || t.type != c) {
            t = new TomcatRequests(c);
            known = t;
        }
        return t.facade == null && t.coyote == null ? null : t;
    }

    /**
     * {@code getRequestURI()} of {@code request} (through {@code a}), or the thread's previous
     * String when the connector's raw URI bytes are the same.
     */
    String uri(Servers.Accessors a, Object request, Servers.ServletState s) {
        if (requestUri == null || bytesType == null || byteChunk == null || buffer == null || start == null
                || end == null || charset == null || tBytes < 0) {
            return a.string(a.uri, request, null);
        }
        try {
            Object c = (Object) coyote.invokeExact(request);
            Object mb = c == null ? null : (Object) requestUri.invokeExact(c);
            if (mb != null && (int) bytesType.invokeExact(mb) == tBytes) {
                Object chunk = (Object) byteChunk.invokeExact(mb);
                Object buf = (Object) buffer.invokeExact(chunk);
                int from = (int) start.invokeExact(chunk);
                int to = (int) end.invokeExact(chunk);
                Object cs = (Object) charset.invokeExact(chunk);
                if (buf instanceof byte[]) {
                    byte[] b = (byte[]) buf;
                    if (s.sameUri(b, from, to, cs)) {
                        return s.uri;
                    }
                    String uri = a.string(a.uri, request, null);
                    if (uri != null && to - from <= MAX_CACHED_URI) {
                        s.rememberUri(b, from, to, cs, uri);
                    }
                    return uri;
                }
            }
        } catch (Throwable ignored) {
            // the portable path below
        }
        return a.string(a.uri, request, null);
    }

    /** The facade servlets see for {@code request}; null when unknown. */
    Object facade(Object request) {
        if (facade == null) {
            return null;
        }
        try {
            return (Object) facade.invokeExact(request);
        } catch (Throwable t) {
            return null;
        }
    }

    /**
     * Whether {@code request} was mapped to its servlet by path prefix or extension ({@code PATH},
     * {@code EXTENSION}): the only matches {@link Servers#route} renames for. True when unknown.
     */
    boolean routed(Object request) {
        if (mappingData == null || matchType == null) {
            return true;
        }
        try {
            Object data = (Object) mappingData.invokeExact(request);
            if (data == null) {
                return true;
            }
            Object match = (Object) matchType.invokeExact(data);
            if (match == null) {
                return false;
            }
            String kind = match.toString();
            return kind.equals("PATH") || kind.equals("EXTENSION");
        } catch (Throwable t) {
            return true;
        }
    }

    private static MethodHandle handle(Method m, MethodType as) {
        return Servers.Accessors.handle(m, as);
    }

    private static MethodHandle field(Class<?> type, String name) {
        try {
            Field f = type.getField(name);
            if (!java.lang.reflect.Modifier.isPublic(type.getModifiers())) {
                return null;
            }
            return MethodHandles.publicLookup().unreflectGetter(f).asType(GETTER);
        } catch (Throwable t) {
            return null;
        }
    }

    private static int constant(Class<?> type, String name) {
        if (type == null) {
            return -1;
        }
        try {
            return type.getField(name).getInt(null);
        } catch (Throwable t) {
            return -1;
        }
    }
}
