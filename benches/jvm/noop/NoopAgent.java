package bench;

import java.lang.instrument.Instrumentation;

/**
 * A {@code -javaagent} that does nothing (bench configuration {@code noop_agent}): what any Java
 * agent costs before it does anything. Its manifest asks for retransformation (as Osprey's does)
 * when built with {@code Can-Retransform-Classes: true}.
 */
public final class NoopAgent {
    private NoopAgent() {}

    /** Called by the JVM before {@code main}; returns at once. */
    public static void premain(String args, Instrumentation inst) {}
}
