package io.osprey.agent.lib.webflux;

import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Spring WebFlux (5.3 to 7) server transactions: {@code HttpWebHandlerAdapter.handle(request,
 * response)}, where every WebFlux server hands a request to the application, begins the
 * transaction and replaces its {@code Mono} by one that carries it ({@link WebFlux#enter}, {@link
 * WebFlux#exit}); {@code ExceptionHandlingWebHandler.handle(exchange)} and {@code
 * DispatcherHandler.handle(exchange)} tell it the exchange, where the matched route will be
 * ({@link WebFlux#exchange}).
 */
public final class WebFluxInstrumentation extends LibraryInstrumentation {
    static final String ADAPTER = "org/springframework/web/server/adapter/HttpWebHandlerAdapter";
    static final String HANDLE_DESC = "(Lorg/springframework/http/server/reactive/ServerHttpRequest;"
            + "Lorg/springframework/http/server/reactive/ServerHttpResponse;)Lreactor/core/publisher/Mono;";
    static final String EXCEPTIONS = "org/springframework/web/server/handler/ExceptionHandlingWebHandler";
    static final String DISPATCHER = "org/springframework/web/reactive/DispatcherHandler";
    static final String EXCHANGE_DESC = "(Lorg/springframework/web/server/ServerWebExchange;)Lreactor/core/publisher/Mono;";
    static final String WEBFLUX = "io/osprey/agent/lib/webflux/WebFlux";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (ADAPTER.equals(internalName)) {
            return rewriteHandle(reader, "handle", HANDLE_DESC);
        }
        if (EXCEPTIONS.equals(internalName) || DISPATCHER.equals(internalName)) {
            return rewriteExchange(reader, "handle", EXCHANGE_DESC);
        }
        return null;
    }

    /** {@code method(desc)} (two object arguments) begins the transaction and returns the Mono carrying it. */
    public static byte[] rewriteHandle(ClassReader reader, final String method, final String methodDesc) {
        return rewriteMethod(reader, method, methodDesc, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                return new ReplaceResult(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadArg(0);
                        loadArg(1);
                        visitMethodInsn(INVOKESTATIC, WEBFLUX, "enter", "(Ljava/lang/Object;Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitReplace() {
                        visitMethodInsn(INVOKESTATIC, WEBFLUX, "exit", "(Ljava/lang/Object;J)Ljava/lang/Object;", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, WEBFLUX, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }

    /** {@code method(desc)} first passes its argument (the exchange) to {@link WebFlux#exchange}. */
    public static byte[] rewriteExchange(ClassReader reader, final String method, final String methodDesc) {
        return rewriteMethod(reader, method, methodDesc, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, WEBFLUX, "exchange", "(Ljava/lang/Object;)V", false);
                    }
                };
            }
        });
    }

    /**
     * An around-hook whose exit replaces the returned reference: the result and the handle are
     * on the stack for {@link #emitReplace}, which leaves the replacement (cast back to the
     * method's return type here). A void method (the warm-up's shape) just drops the handle.
     */
    abstract static class ReplaceResult extends AroundHook {
        private final Type returns;

        ReplaceResult(MethodVisitor mv, int access, String name, String desc, boolean frames) {
            super(mv, access, name, desc, frames);
            returns = Type.getReturnType(desc);
        }

        /** {@code (Object result, long handle)} on the stack → the replacement. */
        protected abstract void emitReplace();

        @Override
        protected boolean wantsResult() {
            return returns.getSort() == Type.OBJECT;
        }

        @Override
        protected final void emitExit() {
            if (!wantsResult()) {
                pop2();
                return;
            }
            // result, result, handle → result, replacement → replacement
            emitReplace();
            swap();
            pop();
            checkCast(returns);
        }
    }
}
