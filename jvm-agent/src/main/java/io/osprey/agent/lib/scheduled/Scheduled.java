package io.osprey.agent.lib.scheduled;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;

/**
 * A Spring {@code @Scheduled} run is a transaction named {@code Class.method} (the declaring
 * class's simple name, as the OpenTelemetry agent names it), of the kind {@code
 * hook.transaction.kind} sets; inside a transaction already open on the thread it is a step.
 * Nothing here throws.
 */
public final class Scheduled {
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
            return MethodSteps.enterEntry(m, m.getDeclaringClass(), m.getName());
        } catch (Throwable t) {
            return 0L;
        }
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
}
