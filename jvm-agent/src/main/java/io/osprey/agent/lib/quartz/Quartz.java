package io.osprey.agent.lib.quartz;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;

/**
 * A Quartz job firing is a transaction named {@code JobClass.execute} (the job class's simple
 * name: job and trigger names are left out, an application may make them per item), of the kind
 * {@code hook.transaction.kind} sets; inside a transaction already open on the thread it is a
 * step. The job comes from the shell's {@code jec} field ({@code getJobInstance()}). Nothing here
 * throws.
 */
public final class Quartz {
    private static final Reflection.FieldReader JEC = new Reflection.FieldReader("jec");
    private static final Reflection.Getter JOB = new Reflection.Getter("getJobInstance");

    private Quartz() {}

    /** Entry of {@code JobRunShell.run()}: {@link Osprey#TXN}, a step handle, or 0. */
    public static long enter(Object shell) {
        if (!Osprey.enabled || shell == null) {
            return 0L;
        }
        try {
            Object jec = JEC.get(shell);
            Object job = jec == null ? null : JOB.get(jec);
            if (job == null) {
                return 0L;
            }
            return MethodSteps.enterEntry(job.getClass(), job.getClass(), "execute");
        } catch (Throwable t) {
            return 0L;
        }
    }
}
