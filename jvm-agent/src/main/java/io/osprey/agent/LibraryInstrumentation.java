package io.osprey.agent;

import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
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

    /** Adapts the methods {@code adapt} returns a visitor for; null when none matched. */
    static byte[] rewrite(ClassReader reader, final MethodAdapter adapt) {
        if ((reader.getAccess() & (Opcodes.ACC_INTERFACE | Opcodes.ACC_ANNOTATION | Opcodes.ACC_MODULE)) != 0) {
            return null;
        }
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        final boolean[] changed = {false};
        ClassVisitor cv = new ClassVisitor(Opcodes.ASM9, writer) {
            private boolean frames;

            @Override
            public void visit(int version, int access, String name, String signature, String superName,
                    String[] interfaces) {
                frames = (version & 0xFFFF) >= Opcodes.V1_6;
                super.visit(version, access, name, signature, superName, interfaces);
            }

            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String signature,
                    String[] exceptions) {
                MethodVisitor mv = super.visitMethod(access, name, desc, signature, exceptions);
                if (mv == null || (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE
                        | Opcodes.ACC_STATIC | Opcodes.ACC_SYNTHETIC | Opcodes.ACC_BRIDGE)) != 0
                        || (access & Opcodes.ACC_PUBLIC) == 0) {
                    return mv;
                }
                MethodVisitor adapted = adapt.adapt(mv, access, name, desc, frames);
                if (adapted != null) {
                    changed[0] = true;
                    return adapted;
                }
                return mv;
            }
        };
        reader.accept(cv, ClassReader.EXPAND_FRAMES);
        return changed[0] ? writer.toByteArray() : null;
    }

    /** Picks and wraps methods (public, non-static, concrete). */
    interface MethodAdapter {
        /** A visitor wrapping {@code mv}, or null to leave the method alone. */
        MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames);
    }
}
