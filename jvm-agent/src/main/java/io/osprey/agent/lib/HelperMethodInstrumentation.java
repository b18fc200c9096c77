package io.osprey.agent.lib;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * The transform of a library hooking a method of a class: {@code owner.method(methodDesc)} is
 * wrapped in a {@link HelperHook} calling the library's runtime helper's {@code enter} with the
 * receiver and/or some of the method's arguments (it returns a handle: 0 for none, a step's, or
 * the bridge's {@code Osprey.TXN} for a transaction it began), and the bridge's {@code
 * Osprey.exit}/{@code exitError} with that handle (none of them throws), so a helper has only its
 * {@code enter} to write. Reads only the class bytes: nothing is loaded during a transform.
 *
 * <p>A library whose target's descriptor varies (a return type, javax or jakarta arguments)
 * overrides {@link #matches}; one with several target classes overrides {@link #transform},
 * calling {@link #wrap(ClassReader)} for each.
 */
public class HelperMethodInstrumentation extends LibraryInstrumentation {
    /**
     * In the {@code enterArgs}: the receiver ({@code this}; null in a static method, as the
     * warm-up's {@code run()}); any other value is an argument index.
     */
    public static final int THIS = -1;
    /** The {@code enter} descriptor of the helpers given one object: {@code (Object)long}. */
    public static final String ENTER_OBJECT = "(Ljava/lang/Object;)J";

    private final String owner;
    private final String method;
    private final String methodDesc;
    private final String helper;
    private final String enterDesc;
    private final int[] enterArgs;

    /**
     * Wraps {@code owner.method(methodDesc)} (internal names) with {@code helper}'s {@code enter}
     * of descriptor {@code enterDesc}, passing {@code enterArgs} in order ({@link #THIS} or an
     * argument index).
     */
    public HelperMethodInstrumentation(String owner, String method, String methodDesc, String helper,
            String enterDesc, int... enterArgs) {
        this.owner = owner;
        this.method = method;
        this.methodDesc = methodDesc;
        this.helper = helper;
        this.enterDesc = enterDesc;
        this.enterArgs = enterArgs.clone();
    }

    /**
     * For a subclass that overrides {@link #matches}: the methods of {@code owner} it accepts are
     * wrapped with {@code helper}'s {@code enter}, as above.
     */
    protected HelperMethodInstrumentation(String owner, String helper, String enterDesc, int... enterArgs) {
        this(owner, null, null, helper, enterDesc, enterArgs);
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return owner.equals(internalName) ? wrap(reader) : null;
    }

    /**
     * Whether the method {@code name(desc)} of a target class is wrapped: by default the one
     * named in the constructor.
     */
    protected boolean matches(String name, String desc) {
        return method != null && method.equals(name) && methodDesc.equals(desc);
    }

    /** Wraps the methods of {@code reader}'s class that {@link #matches}; null when none. */
    protected final byte[] wrap(ClassReader reader) {
        return wrapMethods(reader, null, null);
    }

    /**
     * Wraps the method {@code name(desc)} of {@code reader}'s class as this transform wraps its
     * targets (the warm-up passes a method of the warm-up class); null when absent.
     */
    public final byte[] wrap(ClassReader reader, String name, String desc) {
        return wrapMethods(reader, name, desc);
    }

    /**
     * Wraps {@code name(desc)}, or with a null {@code name} what {@link #matches}: one adapter
     * class for both, so the warm-up loads what every transform will use.
     */
    private byte[] wrapMethods(ClassReader reader, final String name, final String desc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String n, String d, boolean frames) {
                boolean match = name == null ? matches(n, d) : name.equals(n) && desc.equals(d);
                return match ? hook(mv, access, n, d, frames) : null;
            }
        });
    }

    /** The hook of a matched method; null for one with no body (or a compiler's bridge). */
    private MethodVisitor hook(MethodVisitor mv, int access, String name, String desc, boolean frames) {
        if ((access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE | Opcodes.ACC_SYNTHETIC | Opcodes.ACC_BRIDGE)) != 0) {
            return null;
        }
        final boolean isStatic = (access & Opcodes.ACC_STATIC) != 0;
        return new HelperHook(mv, access, name, desc, frames, helper, enterDesc, OSPREY) {
            @Override
            protected void pushEnterArgs() {
                for (int arg : enterArgs) {
                    if (arg != THIS) {
                        loadArg(arg);
                    } else if (isStatic) {
                        visitInsn(Opcodes.ACONST_NULL);
                    } else {
                        loadThis();
                    }
                }
            }
        };
    }
}
