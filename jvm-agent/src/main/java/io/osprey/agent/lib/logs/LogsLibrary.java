package io.osprey.agent.lib.logs;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;

/**
 * Log correlation ({@code instrument.logs}): {@code trace_id} and {@code span_id} in the MDC of
 * Logback and the context data of Log4j 2 ({@link LogsInstrumentation}), and {@link JulFormatter}
 * for {@code java.util.logging}.
 */
public final class LogsLibrary extends Library {
    /** The library, with a fresh transform. */
    public LogsLibrary() {
        super("logs", new LogsInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Logs.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        LogsInstrumentation.rewriteLogback(new org.objectweb.asm.ClassReader(code));
        LogsInstrumentation.rewriteLog4j(new org.objectweb.asm.ClassReader(code));
    }
}
