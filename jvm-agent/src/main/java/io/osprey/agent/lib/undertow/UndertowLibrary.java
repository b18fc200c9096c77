package io.osprey.agent.lib.undertow;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.servlet.ServletLibrary;
import org.objectweb.asm.ClassReader;

/** Undertow (WildFly, JBoss EAP) server transactions ({@code instrument.undertow}). */
public final class UndertowLibrary extends Library {
    /** The library, with a fresh transform. */
    public UndertowLibrary() {
        super("undertow", new UndertowInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        return ServletLibrary.startServers(settings);
    }

    @Override
    public void warmUp(byte[] code, String self) {
        UndertowInstrumentation.rewrite(new ClassReader(code), "(" + self + self + ")V");
    }
}
