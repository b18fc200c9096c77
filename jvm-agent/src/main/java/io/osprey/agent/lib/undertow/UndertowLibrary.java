package io.osprey.agent.lib.undertow;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.LibraryInstrumentation;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.servlet.ServletLibrary;
import org.objectweb.asm.ClassReader;

/** Undertow (WildFly, JBoss EAP) server transactions ({@code instrument.undertow}). */
public final class UndertowLibrary extends Library {
    private final UndertowInstrumentation instrumentation = new UndertowInstrumentation();

    @Override
    public String name() {
        return "undertow";
    }

    @Override
    public String start(Settings settings) {
        return ServletLibrary.startServers(settings);
    }

    @Override
    public LibraryInstrumentation instrumentation() {
        return instrumentation;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        UndertowInstrumentation.rewrite(new ClassReader(code), "(" + self + self + ")V");
    }
}
