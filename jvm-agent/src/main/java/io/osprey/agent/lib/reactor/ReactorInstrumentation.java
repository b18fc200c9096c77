package io.osprey.agent.lib.reactor;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.lib.LibraryInstrumentation;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Reactor (3.x) subscribers carry their subscriber's transaction: every class of {@code
 * reactor.core.publisher} that declares a signal method ({@link #SIGNALS}) gains a field {@code
 * osprey$carrier}, set at the end of each constructor to {@link Reactors#capture()}, and each of
 * those signal methods it declares runs inside {@link Reactors#enter}/{@link Reactors#exit} with
 * that field. Reads only the class bytes: nothing is loaded during a transform; classes are
 * changed when first loaded only (a field cannot be added later).
 */
public final class ReactorInstrumentation extends LibraryInstrumentation {
    static final String PACKAGE = "reactor/core/publisher/";
    static final String REACTORS = "io/osprey/agent/lib/reactor/Reactors";
    static final String FIELD = "osprey$carrier";
    static final String OBJECT = "Ljava/lang/Object;";

    /** The methods whose calls are signals: name + descriptor. */
    static final Set<String> SIGNALS = Collections.unmodifiableSet(new HashSet<String>(Arrays.asList(
            "onNext(Ljava/lang/Object;)V",
            "tryOnNext(Ljava/lang/Object;)Z",
            "onError(Ljava/lang/Throwable;)V",
            "onComplete()V",
            "run()V")));

    /** Methods that make a class a subscriber (a {@code run()} alone does not). */
    static final Set<String> SUBSCRIBER = Collections.unmodifiableSet(new HashSet<String>(Arrays.asList(
            "onNext(Ljava/lang/Object;)V", "onError(Ljava/lang/Throwable;)V", "onComplete()V")));

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (!internalName.startsWith(PACKAGE) || !declaresAny(reader, SUBSCRIBER)) {
            return null;
        }
        return rewriteSubscriber(reader, SIGNALS);
    }

    /** Whether the class declares a concrete, non-static method among {@code methods}. */
    static boolean declaresAny(ClassReader reader, final Set<String> methods) {
        if ((reader.getAccess() & (Opcodes.ACC_INTERFACE | Opcodes.ACC_ANNOTATION)) != 0) {
            return false;
        }
        final boolean[] found = {false};
        reader.accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String signature,
                    String[] exceptions) {
                if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_STATIC)) == 0 && methods.contains(name + desc)) {
                    found[0] = true;
                }
                return null;
            }
        }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return found[0];
    }

    /**
     * Adds the carrier field, captures it in every constructor and wraps the public methods
     * {@code signals} (name + descriptor) declares; the warm-up passes its own class and method.
     */
    public static byte[] rewriteSubscriber(ClassReader reader, final Set<String> signals) {
        final String owner = reader.getClassName();
        final MethodAdapter wrap = new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!signals.contains(name + desc)) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, REACTORS, "(" + OBJECT + ")J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                        getField(org.objectweb.asm.Type.getObjectType(owner), FIELD,
                                org.objectweb.asm.Type.getType(OBJECT));
                    }
                };
            }
        };
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (name.equals("<init>")) {
                    return capture(mv, access, name, desc, owner);
                }
                if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE | Opcodes.ACC_STATIC
                        | Opcodes.ACC_SYNTHETIC | Opcodes.ACC_BRIDGE)) != 0
                        || (access & Opcodes.ACC_PUBLIC) == 0) {
                    return null;
                }
                return wrap.adapt(mv, access, name, desc, frames);
            }
        }, CARRIER_FIELD);
    }

    /** A constructor that ends by setting {@code this.osprey$carrier = Reactors.capture()}. */
    private static MethodVisitor capture(MethodVisitor mv, int access, String name, String desc, final String owner) {
        return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
            @Override
            protected void onMethodExit(int opcode) {
                if (opcode != ATHROW) {
                    loadThis();
                    visitMethodInsn(INVOKESTATIC, REACTORS, "capture", "()" + OBJECT, false);
                    visitFieldInsn(PUTFIELD, owner, FIELD, OBJECT);
                }
            }
        };
    }

    /** Adds {@code private transient Object osprey$carrier}. */
    static final ClassRewriter.Extension CARRIER_FIELD = new ClassRewriter.Extension() {
        @Override
        public ClassVisitor wrap(ClassVisitor next) {
            return new ClassVisitor(Opcodes.ASM9, next) {
                @Override
                public void visitEnd() {
                    FieldVisitor fv = super.visitField(Opcodes.ACC_PRIVATE | Opcodes.ACC_TRANSIENT
                            | Opcodes.ACC_SYNTHETIC, FIELD, OBJECT, null, null);
                    fv.visitEnd();
                    super.visitEnd();
                }
            };
        }
    };
}
