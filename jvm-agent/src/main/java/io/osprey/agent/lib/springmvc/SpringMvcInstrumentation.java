package io.osprey.agent.lib.springmvc;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Spring MVC (5 to 7): {@code InvocableHandlerMethod.invokeForRequest(...)}, which resolves a
 * handler method's arguments and calls it, becomes a step named {@code Controller.method}
 * ({@link SpringMvc#enter}).
 */
public final class SpringMvcInstrumentation extends LibraryInstrumentation {
    static final String INVOCABLE = "org/springframework/web/method/support/InvocableHandlerMethod";
    static final String INVOKE_DESC = "(Lorg/springframework/web/context/request/NativeWebRequest;"
            + "Lorg/springframework/web/method/support/ModelAndViewContainer;[Ljava/lang/Object;)Ljava/lang/Object;";
    static final String SPRING_MVC = "io/osprey/agent/lib/springmvc/SpringMvc";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return INVOCABLE.equals(internalName) ? rewrite(reader, "invokeForRequest", INVOKE_DESC) : null;
    }

    /** Wraps the public method {@code method(desc)} as a step of {@code this}. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, SPRING_MVC, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                    }
                };
            }
        });
    }
}
