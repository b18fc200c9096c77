package io.osprey.agent.lib.scheduled;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * A Spring {@code @Scheduled} run is a transaction named {@code Class.method} (the declaring
 * class's simple name, as the OpenTelemetry agent names it), of the kind {@code
 * hook.transaction.kind} sets; inside a transaction already open on the thread it is a step.
 * Nothing here throws.
 */
public final class Scheduled {
    /** Scheduled method → its name and name id. Weak keys (an application's methods), bounded. */
    private static final Map<Method, Named> NAMES = Collections.synchronizedMap(new WeakHashMap<Method, Named>());
    private static final int MAX_NAMES = 4096;

    private static volatile Class<?> runnableClass;
    private static volatile Method getMethod;

    private Scheduled() {}

    /** Entry of {@code ScheduledMethodRunnable.run()}: {@link Osprey#TXN}, a step handle, or 0. */
    public static long enter(Object runnable) {
        if (!Osprey.enabled || runnable == null) {
            return 0L;
        }
        try {
            Method m = scheduledMethod(runnable);
            if (m == null) {
                return 0L;
            }
            Named n = NAMES.get(m);
            if (n == null) {
                String name = m.getDeclaringClass().getSimpleName() + "." + m.getName();
                // Outside any lock: the name table takes its own.
                n = new Named(name, OspreyNative.internStep(name, OspreyNative.STEP_METHOD));
                if (NAMES.size() < MAX_NAMES) {
                    NAMES.put(m, n);
                }
            }
            return Osprey.enterTxn(n.id, n.name);
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Normal exit of {@code run()}. */
    public static void exit(long handle) {
        Osprey.exit(handle);
    }

    /** Exceptional exit: the error is recorded on the transaction (or step). */
    public static void exitError(Throwable thrown, long handle) {
        Osprey.exitError(thrown, handle);
    }

    private static Method scheduledMethod(Object runnable) throws Exception {
        Class<?> c = runnable.getClass();
        Method getter = getMethod;
        if (getter == null || runnableClass != c) {
            getter = Reflection.publicMethod(c, "getMethod");
            if (getter == null) {
                return null;
            }
            getMethod = getter;
            runnableClass = c;
        }
        Object m = getter.invoke(runnable);
        return m instanceof Method ? (Method) m : null;
    }

    /** A transaction name and its id. */
    static final class Named {
        final String name;
        final int id;

        Named(String name, int id) {
            this.name = name;
            this.id = id;
        }
    }
}
