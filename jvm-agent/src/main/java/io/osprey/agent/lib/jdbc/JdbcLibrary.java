package io.osprey.agent.lib.jdbc;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import org.objectweb.asm.ClassReader;

/** JDBC statements and connections of any driver ({@code instrument.jdbc}). */
public final class JdbcLibrary extends Library {
    /** The library, with a fresh transform. */
    public JdbcLibrary() {
        super("jdbc", new JdbcInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Jdbc.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        JdbcInstrumentation.rewriteStatement(new ClassReader(code), true);
        JdbcInstrumentation.rewriteConnection(new ClassReader(code));
    }
}
