package io.osprey.agent.lib.webflux;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Spring WebFlux handler methods as steps ({@code instrument.spring_webflux}). */
public final class WebFluxHandlersLibrary extends Library {
    /** The library, with a fresh transform. */
    public WebFluxHandlersLibrary() {
        super("spring_webflux", new WebFluxHandlersInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        WebFluxHandlersInstrumentation.rewrite(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
