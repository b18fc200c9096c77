package io.osprey.agent.lib.webflux;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.servlet.ServletLibrary;
import org.objectweb.asm.ClassReader;

/**
 * Spring WebFlux server transactions with route names ({@code instrument.webflux}); the request
 * settings ({@code url.normalize}, {@code http.endpoints.max}) are the servlet library's.
 */
public final class WebFluxLibrary extends Library {
    /** The library, with a fresh transform. */
    public WebFluxLibrary() {
        super("webflux", new WebFluxInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        return ServletLibrary.startServers(settings); // the server attribute keys, the route settings
    }

    @Override
    public void warmUp(byte[] code, String self) {
        WebFluxInstrumentation.rewriteHandle(new ClassReader(code), "invoke", "(" + self + self + ")V");
        WebFluxInstrumentation.rewriteExchange(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
