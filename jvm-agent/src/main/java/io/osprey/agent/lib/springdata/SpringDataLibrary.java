package io.osprey.agent.lib.springdata;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Spring Data repository methods as steps ({@code instrument.spring_data}). */
public final class SpringDataLibrary extends Library {
    /** The library, with a fresh transform. */
    public SpringDataLibrary() {
        super("spring_data", new SpringDataInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new SpringDataInstrumentation().wrap(new ClassReader(code), "invoke", "(" + self + self + ")V");
    }
}
