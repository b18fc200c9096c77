package io.osprey.agent.lib.okhttp;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * OkHttp (3.x to 5.x): the constructor {@code OkHttpClient(OkHttpClient.Builder)}, which every
 * client is built through, first adds the agent's application interceptor to the builder's list
 * ({@link OkHttp#builder}), once.
 */
public final class OkHttpInstrumentation extends LibraryInstrumentation {
    static final String CLIENT = "okhttp3/OkHttpClient";
    static final String INIT_DESC = "(Lokhttp3/OkHttpClient$Builder;)V";
    static final String OKHTTP = "io/osprey/agent/lib/okhttp/OkHttp";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return CLIENT.equals(internalName) ? rewrite(reader, INIT_DESC) : null;
    }

    /**
     * Calls {@code OkHttp.builder(arg0)} at the start of the constructor {@code desc} (after its
     * {@code super()}; the warm-up passes a shape of its own).
     */
    public static byte[] rewrite(ClassReader reader, final String initDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                boolean warmUp = !INIT_DESC.equals(initDesc) && "invoke".equals(name);
                if (!(("<init>".equals(name) || warmUp) && initDesc.equals(desc))) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, OKHTTP, "builder", "(Ljava/lang/Object;)V", false);
                    }
                };
            }
        });
    }
}
