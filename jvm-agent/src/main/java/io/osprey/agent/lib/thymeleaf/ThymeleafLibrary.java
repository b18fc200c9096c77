package io.osprey.agent.lib.thymeleaf;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Thymeleaf template processing as steps ({@code instrument.thymeleaf}). */
public final class ThymeleafLibrary extends Library {
    /** The library, with a fresh transform. */
    public ThymeleafLibrary() {
        super("thymeleaf", new ThymeleafInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new ThymeleafInstrumentation().wrap(new ClassReader(code), "invoke", "(" + self + self + ")V");
    }
}
