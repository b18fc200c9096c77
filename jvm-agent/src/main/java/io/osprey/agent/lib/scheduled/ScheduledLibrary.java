package io.osprey.agent.lib.scheduled;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Spring {@code @Scheduled} methods as transactions ({@code instrument.spring_scheduled}). */
public final class ScheduledLibrary extends Library {
    /** The library, with a fresh transform. */
    public ScheduledLibrary() {
        super("spring_scheduled", new ScheduledInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new ScheduledInstrumentation().wrap(new ClassReader(code), "run", "()V");
    }
}
