package io.osprey.agent.lib.tomcat;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.AroundHook;
import io.osprey.agent.lib.LibraryInstrumentation;
import static io.osprey.agent.lib.servlet.ServletInstrumentation.SERVERS;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Tomcat (embedded or standalone, 9 to 11: the connector types are the same for javax and
 * jakarta): a SERVER transaction around {@code StandardHostValve.invoke(Request, Response)},
 * the outermost step of request processing after the connector. Re-entries (async dispatch
 * aside, error pages, forwards and includes do not pass this valve again) find the transaction
 * open and are not recorded.
 */
public final class TomcatInstrumentation extends LibraryInstrumentation {
    static final String VALVE = "org/apache/catalina/core/StandardHostValve";
    static final String INVOKE_DESC =
            "(Lorg/apache/catalina/connector/Request;Lorg/apache/catalina/connector/Response;)V";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (!VALVE.equals(internalName)) {
            return null;
        }
        return rewrite(reader, "invoke", INVOKE_DESC);
    }

    /** Wraps {@code method(desc)}, whose first two arguments are the request and the response. */
    public static byte[] rewrite(ClassReader reader, final String method, final String desc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String d, boolean frames) {
                if (!method.equals(name) || !desc.equals(d)) {
                    return null;
                }
                return new AroundHook(mv, access, name, d, frames) {
                    @Override
                    protected void emitEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, SERVERS, "enter", "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        loadArg(0);
                        loadArg(1);
                        visitMethodInsn(INVOKESTATIC, SERVERS, "exit",
                                "(JLjava/lang/Object;Ljava/lang/Object;)V", false);
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
