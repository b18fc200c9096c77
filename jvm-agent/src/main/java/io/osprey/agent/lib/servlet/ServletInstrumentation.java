package io.osprey.agent.lib.servlet;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.AroundHook;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Servlets ({@code javax} and {@code jakarta}), at the outermost {@code
 * HttpServlet.service(ServletRequest, ServletResponse)} of a request: a servlet mapped by path
 * prefix or extension ({@code /users/*}, {@code *.do}) renames the transaction to its route
 * ({@code GET /app/users/*}), so that endpoints do not multiply with path parameters; an
 * exception leaving it is recorded on the transaction, whatever the container does with it
 * afterwards (Undertow renders it without telling anyone; Tomcat also sets the error attribute,
 * which is then not recorded twice).
 */
public final class ServletInstrumentation extends LibraryInstrumentation {
    /** The server runtime every server instrumentation calls. */
    public static final String SERVERS = "io/osprey/agent/lib/servlet/Servers";

    private static final String[] PACKAGES = {"jakarta/servlet/", "javax/servlet/"};

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        for (String p : PACKAGES) {
            if (internalName.equals(p + "http/HttpServlet")) {
                return rewrite(reader, "(L" + p + "ServletRequest;L" + p + "ServletResponse;)V");
            }
        }
        return null;
    }

    /** Wraps {@code service(desc)}. */
    public static byte[] rewrite(ClassReader reader, final String serviceDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!"service".equals(name) || !serviceDesc.equals(desc)) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, SERVERS, "servletEnter", "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, SERVERS, "servletExit", "(J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, SERVERS, "servletError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }
}
