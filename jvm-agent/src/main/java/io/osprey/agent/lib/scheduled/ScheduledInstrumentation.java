package io.osprey.agent.lib.scheduled;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Spring's {@code ScheduledMethodRunnable.run()}, through which every {@code @Scheduled} method
 * runs (Spring 4 to 7), becomes a transaction named after the method ({@link Scheduled#enter}).
 */
public final class ScheduledInstrumentation extends LibraryInstrumentation {
    static final String RUNNABLE = "org/springframework/scheduling/support/ScheduledMethodRunnable";
    static final String SCHEDULED = "io/osprey/agent/lib/scheduled/Scheduled";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return RUNNABLE.equals(internalName) ? rewrite(reader, "run", "()V", false) : null;
    }

    /**
     * Wraps the instance method {@code method(desc)} as a transaction of {@code this}; {@code
     * statics} also takes static methods (the warm-up class's {@code run()} is one).
     */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc,
            final boolean statics) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)
                        || (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0
                        || (!statics && (access & Opcodes.ACC_STATIC) != 0)) {
                    return null;
                }
                final boolean isStatic = (access & Opcodes.ACC_STATIC) != 0;
                return new HelperHook(mv, access, name, desc, frames, SCHEDULED, "(Ljava/lang/Object;)J") {
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
