package io.osprey.agent.lib.springwebflux;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Spring WebFlux (5.3 to 7) handler methods: the {@code Mono<HandlerResult>} the reactive {@code
 * InvocableHandlerMethod.invoke(exchange, bindingContext, args)} returns is replaced by one whose
 * subscription is the step {@code Controller.method} ({@link SpringWebFlux#wrap}).
 */
public final class SpringWebFluxInstrumentation extends LibraryInstrumentation {
    static final String INVOCABLE = "org/springframework/web/reactive/result/method/InvocableHandlerMethod";
    static final String INVOKE_DESC = "(Lorg/springframework/web/server/ServerWebExchange;"
            + "Lorg/springframework/web/reactive/BindingContext;[Ljava/lang/Object;)Lreactor/core/publisher/Mono;";
    static final String HANDLERS = "io/osprey/agent/lib/springwebflux/SpringWebFlux";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return INVOCABLE.equals(internalName) ? rewrite(reader, "invoke", INVOKE_DESC) : null;
    }

    /** The reference {@code method(desc)} returns goes through {@code SpringWebFlux.wrap(it, this)}. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return rewriteMethod(reader, method, methodDesc, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                final Type returns = Type.getReturnType(desc);
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            loadThis();
                            visitMethodInsn(INVOKESTATIC, HANDLERS, "wrap",
                                    "(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;", false);
                            checkCast(returns);
                        }
                    }
                };
            }
        });
    }
}
