package io.osprey.agent.lib.quartz;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Quartz 2.x: {@code org.quartz.core.JobRunShell.run()}, which runs one firing of a job on a
 * worker thread, becomes a transaction named after the job's class ({@link Quartz#enter}).
 */
public final class QuartzInstrumentation extends LibraryInstrumentation {
    static final String SHELL = "org/quartz/core/JobRunShell";
    static final String QUARTZ = "io/osprey/agent/lib/quartz/Quartz";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return SHELL.equals(internalName) ? rewrite(reader) : null;
    }

    /** Wraps {@code run()} (static or not: the warm-up class's is static) as a transaction. */
    public static byte[] rewrite(ClassReader reader) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!"run".equals(name) || !"()V".equals(desc)
                        || (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                final boolean isStatic = (access & Opcodes.ACC_STATIC) != 0;
                return new HelperHook(mv, access, name, desc, frames, QUARTZ, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        if (isStatic) {
                            visitInsn(Opcodes.ACONST_NULL);
                        } else {
                            loadThis();
                        }
                    }
                };
            }
        });
    }
}
