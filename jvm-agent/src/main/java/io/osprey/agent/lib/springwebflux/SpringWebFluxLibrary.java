package io.osprey.agent.lib.springwebflux;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Spring WebFlux handler methods as steps ({@code instrument.spring_webflux}). */
public final class SpringWebFluxLibrary extends Library {
    /** The library, with a fresh transform. */
    public SpringWebFluxLibrary() {
        super("spring_webflux", new SpringWebFluxInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        SpringWebFluxInstrumentation.rewrite(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
