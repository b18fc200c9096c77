package io.osprey.agent.lib.jdbc;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.LibraryInstrumentation;
import io.osprey.agent.lib.Settings;
import org.objectweb.asm.ClassReader;

/** JDBC statements and connections of any driver ({@code instrument.jdbc}). */
public final class JdbcLibrary extends Library {
    private final JdbcInstrumentation instrumentation = new JdbcInstrumentation();

    @Override
    public String name() {
        return "jdbc";
    }

    @Override
    public String start(Settings settings) {
        Jdbc.init();
        return null;
    }

    @Override
    public LibraryInstrumentation instrumentation() {
        return instrumentation;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        JdbcInstrumentation.rewriteStatement(new ClassReader(code), true);
        JdbcInstrumentation.rewriteConnection(new ClassReader(code));
    }
}
