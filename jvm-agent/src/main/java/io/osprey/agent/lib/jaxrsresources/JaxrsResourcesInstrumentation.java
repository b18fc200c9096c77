package io.osprey.agent.lib.jaxrsresources;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Jersey 2 to 4: {@code AbstractJavaResourceMethodDispatcher.dispatch(resource, request)}, and
 * RESTEasy 4 to 6: {@code MethodInjectorImpl.invoke(request, response, target)}, each of which
 * calls a resource method, become a step {@code Resource.method} ({@link JaxrsResources#enter}).
 */
public final class JaxrsResourcesInstrumentation extends LibraryInstrumentation {
    static final String DISPATCHER = "org/glassfish/jersey/server/model/internal/AbstractJavaResourceMethodDispatcher";
    static final String DISPATCH_PREFIX = "(Ljava/lang/Object;Lorg/glassfish/jersey/server/ContainerRequest;)";
    static final String RESOURCES = "io/osprey/agent/lib/jaxrsresources/JaxrsResources";

    /** RESTEasy 4 to 6: {@code MethodInjectorImpl.invoke(request, response, target)}. */
    static final String RESTEASY_INJECTOR = "org/jboss/resteasy/core/MethodInjectorImpl";
    static final String RESTEASY_INVOKE = "(Lorg/jboss/resteasy/spi/HttpRequest;Lorg/jboss/resteasy/spi/HttpResponse;"
            + "Ljava/lang/Object;)Ljava/lang/Object;";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (RESTEASY_INJECTOR.equals(internalName)) {
            return rewrite(reader, "invoke", RESTEASY_INVOKE);
        }
        return DISPATCHER.equals(internalName) ? rewrite(reader, (String) null) : null;
    }

    /** Wraps the instance method {@code method(desc)} as the step of {@code this}'s resource method. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, RESOURCES, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                    }
                };
            }
        });
    }

    /** Wraps {@code dispatch}, or for the warm-up the method {@code invoke(warmUpDesc)}. */
    public static byte[] rewrite(ClassReader reader, final String warmUpDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                boolean match = warmUpDesc == null ? "dispatch".equals(name) && desc.startsWith(DISPATCH_PREFIX)
                        : "invoke".equals(name) && warmUpDesc.equals(desc);
                if (!match || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, RESOURCES, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                    }
                };
            }
        });
    }
}
