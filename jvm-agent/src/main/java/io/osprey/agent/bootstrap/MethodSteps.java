package io.osprey.agent.bootstrap;

import java.lang.reflect.Method;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Method steps the framework instrumentations open for application code they call (a controller's
 * handler method, a resource method, a view): named {@code Type.method} or by a short text, each
 * name interned once (outside any lock) and cached, bounded. Never throws; a handle of 0 means no
 * step (no transaction, or the agent is off).
 */
public final class MethodSteps {
    /** Method → name id. Weak keys (the application's methods), bounded. */
    private static final Map<Method, Integer> BY_METHOD = Collections.synchronizedMap(new WeakHashMap<Method, Integer>());
    /** Text → name id, for names that are not methods. Bounded. */
    private static final Map<String, Integer> BY_TEXT = new ConcurrentHashMap<String, Integer>();
    /** Entry key (a job class, a scheduled method) → its transaction name. Weak keys, bounded. */
    private static final Map<Object, Named> ENTRIES = Collections.synchronizedMap(new WeakHashMap<Object, Named>());
    private static final int MAX = 4096;

    private MethodSteps() {}

    /** Enters a step {@code Type.method} ({@code type}'s simple name; null: the declaring class's). */
    public static long enter(Class<?> type, Method method) {
        if (!Osprey.enabled || method == null) {
            return 0L;
        }
        try {
            Integer known = BY_METHOD.get(method);
            if (known != null) {
                return OspreyNative.enter(known, OspreyNative.STEP_METHOD);
            }
            String name = (type == null ? method.getDeclaringClass() : type).getSimpleName() + "." + method.getName();
            int id = OspreyNative.internStep(name, OspreyNative.STEP_METHOD);
            if (id >= OspreyNative.OVERFLOW_IDS && BY_METHOD.size() < MAX) {
                BY_METHOD.put(method, id);
            }
            return step(id, name);
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Enters a step named {@code name}, whose distinct texts must be few (view names). */
    public static long enter(String name) {
        if (!Osprey.enabled || name == null) {
            return 0L;
        }
        try {
            Integer known = BY_TEXT.get(name);
            if (known != null) {
                return OspreyNative.enter(known, OspreyNative.STEP_METHOD);
            }
            int id = OspreyNative.internStep(name, OspreyNative.STEP_METHOD);
            if (id >= OspreyNative.OVERFLOW_IDS && BY_TEXT.size() < MAX) {
                BY_TEXT.put(name, id);
            }
            return step(id, name);
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * Entry of a job run (a Quartz job, a Spring {@code @Scheduled} method): a transaction named
     * {@code Type.method}, of the kind {@code hook.transaction.kind} sets, or a step inside a
     * transaction already open on the thread; {@link Osprey#TXN}, a step handle, or 0. The name is
     * made and interned once per {@code key} (outside any lock), cached with a weak key.
     */
    public static long enterEntry(Object key, Class<?> type, String method) {
        if (!Osprey.enabled || key == null || type == null) {
            return 0L;
        }
        try {
            Named n = ENTRIES.get(key);
            if (n == null) {
                String name = type.getSimpleName() + "." + method;
                n = new Named(name, OspreyNative.internStep(name, OspreyNative.STEP_METHOD));
                if (n.id >= OspreyNative.OVERFLOW_IDS && ENTRIES.size() < MAX) {
                    ENTRIES.put(key, n);
                }
            }
            return Osprey.enterTxn(n.id, n.name);
        } catch (Throwable t) {
            return 0L;
        }
    }

    private static long step(int id, String name) {
        if (id < 0) {
            return 0L;
        }
        return id < OspreyNative.OVERFLOW_IDS ? OspreyNative.enterName(name, OspreyNative.STEP_METHOD)
                : OspreyNative.enter(id, OspreyNative.STEP_METHOD);
    }

    /** A name and its name id. */
    private static final class Named {
        final String name;
        final int id;

        Named(String name, int id) {
            this.name = name;
            this.id = id;
        }
    }
}
