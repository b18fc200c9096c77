package io.osprey.agent.lib;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * The class transform of one library, chosen by the class's name or its direct interfaces (read
 * from the class bytes: nothing is loaded), independent of {@code hook.methods}.
 */
public abstract class LibraryInstrumentation {
    /** The bridge's entry for method steps. */
    public static final String OSPREY = "io/osprey/agent/bootstrap/Osprey";

    /**
     * The transformed class, or null to leave it alone. {@code loader} defines the class (null:
     * the boot loader); state learned from one class (a subclass of a matched class matches too)
     * is kept per loader, so that two applications with same-named classes do not share it.
     */
    public abstract byte[] transform(ClassLoader loader, String internalName, ClassReader reader);

    /**
     * Adapts the public, non-static, concrete methods {@code adapt} returns a visitor for; null
     * when none matched.
     */
    public static byte[] rewrite(ClassReader reader, final MethodAdapter adapt) {
        return rewrite(reader, adapt, null);
    }

    /**
     * Adapts the one public, non-static, concrete method {@code method(methodDesc)} with the
     * visitor {@code adapt} returns; null when the class has no such method.
     */
    public static byte[] rewriteMethod(ClassReader reader, final String method, final String methodDesc,
            final MethodAdapter adapt) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                return method.equals(name) && methodDesc.equals(desc) ? adapt.adapt(mv, access, name, desc, frames)
                        : null;
            }
        });
    }

    /** As {@link #rewrite(ClassReader, MethodAdapter)}, adding {@code extension}'s members too. */
    public static byte[] rewrite(ClassReader reader, final MethodAdapter adapt, ClassRewriter.Extension extension) {
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
