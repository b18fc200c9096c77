package io.osprey.agent.lib.jaxrs;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * JAX-RS on Jersey (2.x {@code javax}, 3.x and 4.x {@code jakarta}: the server types are
 * Jersey's own): at the start of {@code ResourceMethodInvoker.apply(RequestProcessingContext)},
 * when the request has been routed to its resource method, the matched {@code @Path} templates
 * name the server transaction ({@link Jaxrs#route}).
 */
public final class JaxrsInstrumentation extends LibraryInstrumentation {
    static final String INVOKER = "org/glassfish/jersey/server/model/ResourceMethodInvoker";
    static final String APPLY_DESC = "(Lorg/glassfish/jersey/server/internal/process/RequestProcessingContext;)"
            + "Lorg/glassfish/jersey/server/ContainerResponse;";
    static final String JAXRS = "io/osprey/agent/lib/jaxrs/Jaxrs";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return INVOKER.equals(internalName) ? rewrite(reader, APPLY_DESC) : null;
    }

    /** Calls {@code Jaxrs.route(context)} first thing in {@code apply(desc)}. */
    public static byte[] rewrite(ClassReader reader, final String applyDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!"apply".equals(name) || !applyDesc.equals(desc)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, JAXRS, "route", "(Ljava/lang/Object;)V", false);
                    }
                };
            }
        });
    }
}
