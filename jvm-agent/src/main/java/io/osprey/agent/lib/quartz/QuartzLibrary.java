package io.osprey.agent.lib.quartz;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Quartz jobs as transactions ({@code instrument.quartz}). */
public final class QuartzLibrary extends Library {
    /** The library, with a fresh transform. */
    public QuartzLibrary() {
        super("quartz", new QuartzInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new QuartzInstrumentation().wrap(new ClassReader(code), "run", "()V");
    }
}
