package io.osprey.agent;

import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * The class transform pipeline shared by the method hooks and the library instrumentations:
 * frames are expanded by the reader and kept by the adapters, the writer only computes maxima (no
 * getCommonSuperClass), so nothing is loaded while transforming.
 */
public final class ClassRewriter {
    private ClassRewriter() {
    }

    /**
     * The class with the methods {@code adapt} returns a visitor for adapted; null when none was,
     * and for interfaces, annotations and modules.
     */
    public static byte[] rewrite(ClassReader reader, final MethodAdapter adapt) {
        return rewrite(reader, adapt, null);
    }

    /**
     * As {@link #rewrite(ClassReader, MethodAdapter)}, and {@code extension} (when not null) adds
     * members to the class, which then always counts as changed.
     */
    public static byte[] rewrite(ClassReader reader, final MethodAdapter adapt, Extension extension) {
        if ((reader.getAccess() & (Opcodes.ACC_INTERFACE | Opcodes.ACC_ANNOTATION | Opcodes.ACC_MODULE)) != 0) {
            return null;
        }
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        final boolean[] changed = {extension != null};
        ClassVisitor next = extension == null ? writer : extension.wrap(writer);
        ClassVisitor cv = new ClassVisitor(Opcodes.ASM9, next) {
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
                if (mv == null) {
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

    /** Adds members (interfaces, fields, methods) to a class. */
    public interface Extension {
        /** A visitor that adds them on the way to {@code next}. */
        ClassVisitor wrap(ClassVisitor next);
    }

    /** Picks and wraps methods. */
    public interface MethodAdapter {
        /**
         * A visitor wrapping {@code mv}, or null to leave the method alone; {@code frames} tells
         * whether the class file has stack map frames (version 50 and later).
         */
        MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames);
    }
}
