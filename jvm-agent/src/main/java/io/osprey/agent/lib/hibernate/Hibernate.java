package io.osprey.agent.lib.hibernate;

import io.osprey.agent.bootstrap.MethodSteps;

/** Hibernate operation steps, named by the instrumentation; nothing here throws. */
public final class Hibernate {
    private Hibernate() {}

    /** Entry of an operation: the step handle (0: none), which the bridge's {@code Osprey.exit} ends. */
    public static long enter(String name) {
        return MethodSteps.enter(name);
    }
}
