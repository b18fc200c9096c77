package io.osprey.agent.lib;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * The transform of a library hooking one method of one class: {@code owner.method(methodDesc)}
 * is wrapped in a {@link HelperHook} calling the library's runtime helper's {@code enter} with
 * the receiver and/or some of the method's arguments (it returns a step handle, 0 for none), and
 * the bridge's {@code Osprey.exit}/{@code exitError} with that handle (none of them throws). Reads
 * only the class bytes: nothing is loaded during a transform.
 */
public class HelperMethodInstrumentation extends LibraryInstrumentation {
    /** In the {@code enterArgs}: the receiver ({@code this}); any other value is an argument index. */
    public static final int THIS = -1;

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

    @Override
    public final byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return owner.equals(internalName) ? wrap(reader, method, methodDesc) : null;
    }

    /**
     * Wraps the public method {@code name(desc)} of {@code reader}'s class as this transform
     * wraps its target (the warm-up passes a method of the warm-up class); null when absent.
     */
    public final byte[] wrap(ClassReader reader, String name, String desc) {
        return rewriteMethod(reader, name, desc, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String n, String d, boolean frames) {
                return new HelperHook(mv, access, n, d, frames, helper, enterDesc, OSPREY) {
                    @Override
                    protected void pushEnterArgs() {
                        for (int arg : enterArgs) {
                            if (arg == THIS) {
                                loadThis();
                            } else {
                                loadArg(arg);
                            }
                        }
                    }
                };
            }
        });
    }
}
