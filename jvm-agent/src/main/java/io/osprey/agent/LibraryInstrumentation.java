package io.osprey.agent;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * The instrumentation of one library, chosen by the class's name or its direct interfaces (read
 * from the class bytes: nothing is loaded), independent of {@code hook.methods}.
 */
abstract class LibraryInstrumentation {
    static final String SERVERS = "io/osprey/agent/bootstrap/Servers";
    static final String JDBC = "io/osprey/agent/bootstrap/Jdbc";
    static final String OSPREY = "io/osprey/agent/bootstrap/Osprey";

    /** The transformed class, or null to leave it alone. */
    abstract byte[] transform(String internalName, ClassReader reader);

    /**
     * Adapts the public, non-static, concrete methods {@code adapt} returns a visitor for; null
     * when none matched.
     */
    static byte[] rewrite(ClassReader reader, final MethodAdapter adapt) {
        return rewrite(reader, adapt, null);
    }

    /** As {@link #rewrite(ClassReader, MethodAdapter)}, adding {@code extension}'s members too. */
    static byte[] rewrite(ClassReader reader, final MethodAdapter adapt, ClassRewriter.Extension extension) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE | Opcodes.ACC_STATIC
                        | Opcodes.ACC_SYNTHETIC | Opcodes.ACC_BRIDGE)) != 0
                        || (access & Opcodes.ACC_PUBLIC) == 0) {
                    return null;
                }
                return adapt.adapt(mv, access, name, desc, frames);
            }
        }, extension);
    }
}
