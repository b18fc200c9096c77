package io.osprey.agent.lib.okhttp;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** OkHttp 3, 4 and 5 calls as outgoing HTTP steps ({@code instrument.okhttp}). */
public final class OkHttpLibrary extends Library {
    /** The library, with a fresh transform. */
    public OkHttpLibrary() {
        super("okhttp", new OkHttpInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        OkHttpInstrumentation.rewrite(new ClassReader(code), "(" + self + self + ")V");
    }
}
