package io.osprey.agent.lib.quartz;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * A Quartz job firing is a transaction named {@code JobClass.execute} (the job class's simple
 * name: job and trigger names are left out, an application may make them per item), of the kind
 * {@code hook.transaction.kind} sets; inside a transaction already open on the thread it is a
 * step. The job comes from the shell's {@code jec} field ({@code getJobInstance()}). Nothing here
 * throws.
 */
public final class Quartz {
    private static volatile Class<?> shellClass;
    private static volatile Field jecField;

    private Quartz() {}

    /** Entry of {@code JobRunShell.run()}: {@link Osprey#TXN}, a step handle, or 0. */
    public static long enter(Object shell) {
        if (!Osprey.enabled || shell == null) {
            return 0L;
        }
        try {
            Object jec = jec(shell);
            Method getJob = jec == null ? null : Reflection.publicMethod(jec.getClass(), "getJobInstance");
            Object job = getJob == null ? null : getJob.invoke(jec);
            if (job == null) {
                return 0L;
            }
            return MethodSteps.enterEntry(job.getClass(), job.getClass(), "execute");
        } catch (Throwable t) {
            return 0L;
        }
    }

    private static Object jec(Object shell) throws Exception {
        Class<?> c = shell.getClass();
        Field f = jecField;
        if (f == null || shellClass != c) {
            f = null;
            for (Class<?> k = c; k != null && f == null; k = k.getSuperclass()) {
                try {
                    f = k.getDeclaredField("jec");
                } catch (NoSuchFieldException e) {
                    // look further up
                }
            }
            if (f == null) {
                return null;
            }
            f.setAccessible(true);
            jecField = f;
            shellClass = c;
        }
        return f.get(shell);
    }
}
