package io.osprey.agent.lib.scheduled;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Spring's {@code ScheduledMethodRunnable.run()}, through which every {@code @Scheduled} method
 * runs (Spring 4 to 7), becomes a transaction named after the method ({@link Scheduled#enter},
 * given the runnable).
 */
public final class ScheduledInstrumentation extends HelperMethodInstrumentation {
    static final String RUNNABLE = "org/springframework/scheduling/support/ScheduledMethodRunnable";
    static final String SCHEDULED = "io/osprey/agent/lib/scheduled/Scheduled";

    /** The transform of {@code ScheduledMethodRunnable.run()}. */
    public ScheduledInstrumentation() {
        super(RUNNABLE, "run", "()V", SCHEDULED, ENTER_OBJECT, THIS);
    }
}
