package io.osprey.agent.lib.jaxrs;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.servlet.ServletLibrary;
import org.objectweb.asm.ClassReader;

/** JAX-RS route names from the matched {@code @Path} templates (Jersey, RESTEasy) ({@code instrument.jaxrs}). */
public final class JaxrsLibrary extends Library {
    /** The library, with a fresh transform. */
    public JaxrsLibrary() {
        super("jaxrs", new JaxrsInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        return ServletLibrary.startServers(settings);
    }

    @Override
    public void warmUp(byte[] code, String self) {
        JaxrsInstrumentation.rewrite(new ClassReader(code), "(" + self + ")" + self);
        JaxrsInstrumentation.rewriteResteasy(new ClassReader(code), "invoke", "(" + self + self + ")V");
    }
}
