package io.osprey.agent.lib.tomcat;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.servlet.ServletLibrary;
import org.objectweb.asm.ClassReader;

/**
 * Tomcat server transactions ({@code instrument.tomcat}); the request handling is the servlet
 * runtime's ({@code io.osprey.agent.lib.servlet.Servers}), shared with Undertow.
 */
public final class TomcatLibrary extends Library {
    /** The library, with a fresh transform. */
    public TomcatLibrary() {
        super("tomcat", new TomcatInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        return ServletLibrary.startServers(settings);
    }

    @Override
    public void warmUp(byte[] code, String self) {
        TomcatInstrumentation.rewrite(new ClassReader(code), "invoke", "(" + self + self + ")V");
    }
}
