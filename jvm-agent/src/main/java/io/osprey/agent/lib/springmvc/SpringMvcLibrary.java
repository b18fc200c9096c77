package io.osprey.agent.lib.springmvc;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Spring MVC handler methods as steps ({@code instrument.spring_mvc}). */
public final class SpringMvcLibrary extends Library {
    /** The library, with a fresh transform. */
    public SpringMvcLibrary() {
        super("spring_mvc", new SpringMvcInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new SpringMvcInstrumentation().wrap(new ClassReader(code), "execute", "(Ljava/lang/String;)Z");
    }
}
