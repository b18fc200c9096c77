package io.osprey.agent.lib.undertow;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.lib.LibraryInstrumentation;
import static io.osprey.agent.lib.servlet.ServletInstrumentation.SERVERS;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Undertow (WildFly, JBoss EAP 7+, standalone Undertow servlets; javax and jakarta): a SERVER
 * transaction around {@code ServletInitialHandler.handleFirstRequest(HttpServerExchange,
 * ServletRequestContext)}, which runs the filter chain and the servlet on the worker thread the
 * I/O thread dispatched the exchange to. Forwards, includes and error pages do not pass through it
 * again; async requests end on completion (see {@code AsyncRequests}).
 */
public final class UndertowInstrumentation extends LibraryInstrumentation {
    static final String HANDLER = "io/undertow/servlet/handlers/ServletInitialHandler";
    static final String METHOD = "handleFirstRequest";
    static final String DESC =
            "(Lio/undertow/server/HttpServerExchange;Lio/undertow/servlet/handlers/ServletRequestContext;)V";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (!HANDLER.equals(internalName)) {
            return null;
        }
        return rewrite(reader, DESC);
    }

    /**
     * Wraps {@code handleFirstRequest(desc)}, whose second argument is the request context (private,
     * so not through {@link #rewrite(ClassReader, MethodAdapter)}).
     */
    public static byte[] rewrite(ClassReader reader, final String handlerDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!METHOD.equals(name) || !handlerDesc.equals(desc)) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadArg(1);
                        visitMethodInsn(INVOKESTATIC, SERVERS, "enterUndertow", "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        loadArg(1);
                        visitMethodInsn(INVOKESTATIC, SERVERS, "exitUndertow", "(JLjava/lang/Object;)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, SERVERS, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }
}
