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
    private static final Reflection.Getter METHOD = new Reflection.Getter("getMethod");

    private Scheduled() {}

    /** Entry of {@code ScheduledMethodRunnable.run()}: {@link Osprey#TXN}, a step handle, or 0. */
    public static long enter(Object runnable) {
        if (!Osprey.enabled || runnable == null) {
            return 0L;
        }
        try {
            Object m = METHOD.get(runnable);
            if (!(m instanceof Method)) {
                return 0L;
            }
            Method method = (Method) m;
            return MethodSteps.enterEntry(method, method.getDeclaringClass(), method.getName());
        } catch (Throwable t) {
            return 0L;
        }
    }
}
