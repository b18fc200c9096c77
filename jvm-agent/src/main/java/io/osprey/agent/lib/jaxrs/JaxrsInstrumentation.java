package io.osprey.agent.lib.jaxrs;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * JAX-RS on RESTEasy (4 to 6: at the start of {@code ResourceMethodInvoker.invoke(request,
 * response, target)}, {@link Jaxrs#resteasyRoute}) and on Jersey (2.x {@code javax}, 3.x and
 * 4.x {@code jakarta}: the server types are Jersey's own): at the start of {@code ResourceMethodInvoker.apply(RequestProcessingContext)},
 * when the request has been routed to its resource method, the matched {@code @Path} templates
 * name the server transaction ({@link Jaxrs#route}).
 */
public final class JaxrsInstrumentation extends LibraryInstrumentation {
    static final String INVOKER = "org/glassfish/jersey/server/model/ResourceMethodInvoker";
    static final String APPLY_DESC = "(Lorg/glassfish/jersey/server/internal/process/RequestProcessingContext;)"
            + "Lorg/glassfish/jersey/server/ContainerResponse;";
    static final String JAXRS = "io/osprey/agent/lib/jaxrs/Jaxrs";

    /** RESTEasy 4 to 6 (WildFly 19 to 39, javax and jakarta). */
    static final String RESTEASY_INVOKER = "org/jboss/resteasy/core/ResourceMethodInvoker";
    static final String RESTEASY_INVOKE_PREFIX =
            "(Lorg/jboss/resteasy/spi/HttpRequest;Lorg/jboss/resteasy/spi/HttpResponse;Ljava/lang/Object;)";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (RESTEASY_INVOKER.equals(internalName)) {
            return rewriteResteasy(reader, "invoke", RESTEASY_INVOKE_PREFIX);
        }
        return INVOKER.equals(internalName) ? rewrite(reader, APPLY_DESC) : null;
    }

    /**
     * Calls {@code Jaxrs.resteasyRoute(this, request)} first thing in the instance method {@code
     * method} whose descriptor starts with {@code descPrefix} (not its bridges).
     */
    public static byte[] rewriteResteasy(ClassReader reader, final String method, final String descPrefix) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !desc.startsWith(descPrefix)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE
                                | Opcodes.ACC_BRIDGE | Opcodes.ACC_SYNTHETIC)) != 0) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadThis();
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, JAXRS, "resteasyRoute", "(Ljava/lang/Object;Ljava/lang/Object;)V",
                                false);
                    }
                };
            }
        });
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
