package io.osprey.agent.lib.webclient;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Spring's {@code WebClient} (5.3 to 7): {@code ExchangeFunctions.DefaultExchangeFunction.exchange(request)},
 * which every WebClient call goes through once its Mono is subscribed, takes the request {@link
 * WebClients#request} returns (the step opened, the trace headers added) and returns the Mono
 * {@link WebClients#exchanged} watches for the step's end.
 */
public final class WebClientInstrumentation extends LibraryInstrumentation {
    static final String EXCHANGE_FUNCTION = "org/springframework/web/reactive/function/client/ExchangeFunctions$DefaultExchangeFunction";
    static final String EXCHANGE_DESC = "(Lorg/springframework/web/reactive/function/client/ClientRequest;)"
            + "Lreactor/core/publisher/Mono;";
    static final String WEBCLIENTS = "io/osprey/agent/lib/webclient/WebClients";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return EXCHANGE_FUNCTION.equals(internalName) ? rewrite(reader, "exchange", EXCHANGE_DESC) : null;
    }

    /** {@code method(desc)} (one object argument, an object result) goes through {@link WebClients}. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return rewriteMethod(reader, method, methodDesc, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                final Type argument = Type.getArgumentTypes(desc)[0];
                final Type returns = Type.getReturnType(desc);
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, WEBCLIENTS, "request", "(Ljava/lang/Object;)Ljava/lang/Object;", false);
                        checkCast(argument);
                        storeArg(0);
                    }

                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            visitMethodInsn(INVOKESTATIC, WEBCLIENTS, "exchanged",
                                    "(Ljava/lang/Object;)Ljava/lang/Object;", false);
                            checkCast(returns);
                        }
                    }
                };
            }
        });
    }
}
