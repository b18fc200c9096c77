package io.osprey.agent.lib.logs;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;
import java.util.HashMap;
import java.util.Map;

/**
 * Log correlation: the current transaction's {@code trace_id} and {@code span_id} (the innermost
 * open step's, as it is exported) in the context data of log events, so that a pattern such as
 * {@code [%X{trace_id} %X{span_id}]} prints them. Logback's {@code LoggingEvent} gets them in its
 * MDC map ({@link #logback}), Log4j 2's context data injectors add them to the event's context
 * data ({@link #log4j}), and {@link JulFormatter} formats them for {@code java.util.logging}.
 * Outside a transaction, or when the application put its own {@code trace_id} there, nothing
 * changes. Asking for the ids does not make a sampled-out trace keep its tree. Nothing here throws.
 */
public final class Logs {
    /** The MDC key of the trace id (32 hex digits). */
    public static final String TRACE_ID = "trace_id";
    /** The MDC key of the span id (16 hex digits). */
    public static final String SPAN_ID = "span_id";

    static volatile boolean on;

    private Logs() {}

    /** Switches the injection on (the library's start). */
    public static void init() {
        on = true;
    }

    /** {@code [traceId, spanId]} of this thread's transaction, or null outside one. */
    public static String[] ids() {
        if (!on || !Osprey.enabled) {
            return null;
        }
        try {
            String both = OspreyNative.currentIds();
            if (both == null || both.length() != 48) {
                return null;
            }
            return new String[] {both.substring(0, 32), both.substring(32)};
        } catch (Throwable t) {
            return null;
        }
    }

    /**
     * Logback's {@code LoggingEvent.getMDCPropertyMap()} result: with the ids added (a copy, which
     * the event then keeps, so later reads on other threads see the same ids), or as it is.
     */
    public static Map<String, String> logback(Map<String, String> mdc) {
        try {
            if (mdc != null && mdc.containsKey(TRACE_ID)) {
                return mdc;
            }
            String[] ids = ids();
            if (ids == null) {
                return mdc;
            }
            Map<String, String> out = mdc == null ? new HashMap<String, String>(4) : new HashMap<String, String>(mdc);
            out.put(TRACE_ID, ids[0]);
            out.put(SPAN_ID, ids[1]);
            return out;
        } catch (Throwable t) {
            return mdc;
        }
    }

    /** Accessors of one Log4j {@code StringMap} class. */
    private static final ClassValue<Method[]> STRING_MAP = new ClassValue<Method[]>() {
        @Override
        protected Method[] computeValue(Class<?> type) {
            Class<?> readOnly = null;
            for (Class<?> c = type; c != null && readOnly == null; c = c.getSuperclass()) {
                readOnly = find(c, "org.apache.logging.log4j.util.ReadOnlyStringMap");
            }
            return new Method[] {
                Reflection.publicMethod(type, "isFrozen"),
                Reflection.publicMethod(type, "containsKey", String.class),
                Reflection.publicMethod(type, "putValue", String.class, Object.class),
                readOnly == null ? null : Reflection.publicMethod(type, "putAll", readOnly),
            };
        }
    };

    private static Class<?> find(Class<?> type, String name) {
        for (Class<?> i : type.getInterfaces()) {
            if (i.getName().equals(name)) {
                return i;
            }
            Class<?> deeper = find(i, name);
            if (deeper != null) {
                return deeper;
            }
        }
        return null;
    }

    /**
     * A Log4j 2 context data injector's {@code injectContextData(properties, reusable)} result:
     * with the ids added (into a new map of {@code reusable}'s class, or the result's, when the result is
     * frozen: the thread context's read-only map), or as it is.
     */
    public static Object log4j(Object result, Object reusable) {
        if (result == null) {
            return null;
        }
        try {
            Method[] m = STRING_MAP.get(result.getClass());
            if (m[1] == null || m[2] == null || Boolean.TRUE.equals(m[1].invoke(result, TRACE_ID))) {
                return result;
            }
            String[] ids = ids();
            if (ids == null) {
                return result;
            }
            Object target = result;
            if (m[0] != null && Boolean.TRUE.equals(m[0].invoke(result))) {
                // A fresh map of the reusable one's class (the event copies the result into its
                // own map, which it clears first: filling that one would lose the ids).
                Class<?> type = reusable != null ? reusable.getClass() : result.getClass();
                Method[] r = STRING_MAP.get(type);
                if (r[2] == null || r[3] == null) {
                    return result;
                }
                target = type.getConstructor().newInstance();
                r[3].invoke(target, result);
                m = r;
            }
            m[2].invoke(target, TRACE_ID, ids[0]);
            m[2].invoke(target, SPAN_ID, ids[1]);
            return target;
        } catch (Throwable t) {
            return result;
        }
    }
}
