package io.osprey.agent.lib.hibernate;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;

/** Hibernate operation steps, named by the instrumentation; nothing here throws. */
public final class Hibernate {
    private Hibernate() {}

    /** Entry of an operation: the step handle (0: none). */
    public static long enter(String name) {
        return MethodSteps.enter(name);
    }

    /** Normal exit. */
    public static void exit(long handle) {
        Osprey.exit(handle);
    }

    /** Exceptional exit: the failure is recorded on the step. */
    public static void exitError(Throwable thrown, long handle) {
        Osprey.exitError(thrown, handle);
    }
}
