package io.osprey.agent.lib.quartz;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Quartz 2.x: {@code org.quartz.core.JobRunShell.run()}, which runs one firing of a job on a
 * worker thread, becomes a transaction named after the job's class ({@link Quartz#enter}, given
 * the shell).
 */
public final class QuartzInstrumentation extends HelperMethodInstrumentation {
    static final String SHELL = "org/quartz/core/JobRunShell";
    static final String QUARTZ = "io/osprey/agent/lib/quartz/Quartz";

    /** The transform of {@code JobRunShell.run()}. */
    public QuartzInstrumentation() {
        super(SHELL, "run", "()V", QUARTZ, ENTER_OBJECT, THIS);
    }
}
