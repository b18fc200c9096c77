package io.osprey.agent.lib.httpclient;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.lib.LibraryInstrumentation;
import java.util.HashMap;
import java.util.Map;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Apache HttpClient 4 and 5 (classic API): {@code doExecute(HttpHost target, request, context)}
 * of {@code InternalHttpClient} and {@code MinimalHttpClient} (where every {@code execute}
 * overload of {@code CloseableHttpClient} ends up) becomes a CLIENT step that sets {@code
 * traceparent} on the request (see {@link io.osprey.agent.bootstrap.HttpClients}). Matched by
 * exact class name and descriptor; other versions are left alone. The JDK's own clients are
 * {@link JdkHttpInstrumentation}'s.
 */
public final class ApacheHttpInstrumentation extends LibraryInstrumentation {
    static final String HTTP_CLIENTS = "io/osprey/agent/lib/httpclient/HttpClients";

    private static final String V4_DESC = "(Lorg/apache/http/HttpHost;Lorg/apache/http/HttpRequest;"
            + "Lorg/apache/http/protocol/HttpContext;)Lorg/apache/http/client/methods/CloseableHttpResponse;";
    private static final String V5_DESC = "(Lorg/apache/hc/core5/http/HttpHost;"
            + "Lorg/apache/hc/core5/http/ClassicHttpRequest;Lorg/apache/hc/core5/http/protocol/HttpContext;)"
            + "Lorg/apache/hc/client5/http/impl/classic/CloseableHttpResponse;";

    /** Class → descriptor of its {@code doExecute}. */
    static final Map<String, String> CLASSES = new HashMap<String, String>();

    static {
        CLASSES.put("org/apache/http/impl/client/InternalHttpClient", V4_DESC);
        CLASSES.put("org/apache/http/impl/client/MinimalHttpClient", V4_DESC);
        CLASSES.put("org/apache/hc/client5/http/impl/classic/InternalHttpClient", V5_DESC);
        CLASSES.put("org/apache/hc/client5/http/impl/classic/MinimalHttpClient", V5_DESC);
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        String desc = CLASSES.get(internalName);
        return desc == null ? null : rewriteCall(reader, "doExecute", desc, "apacheEnter", 2, "apacheExit");
    }

    /**
     * Wraps {@code method(desc)} (any access, not static) in a CLIENT step: {@code long h =
     * HttpClients.<enter>(arg0[, arg1]); try { r = body; HttpClients.<exit>(r, h); return r; }
     * catch (Throwable t) { HttpClients.exitError(t, h); throw t; }}. The first {@code args}
     * arguments (references) go to {@code enter}.
     */
    static byte[] rewriteCall(ClassReader reader, final String method, final String desc, final String enter,
            final int args, final String exit) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String d, boolean frames) {
                if (!method.equals(name) || !desc.equals(d)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new AroundHook(mv, access, name, d, frames) {
                    @Override
                    protected void emitEnter() {
                        StringBuilder sig = new StringBuilder("(");
                        for (int i = 0; i < args; i++) {
                            loadArg(i);
                            sig.append("Ljava/lang/Object;");
                        }
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, enter, sig.append(")J").toString(), false);
                    }

                    @Override
                    protected boolean wantsResult() {
                        return true;
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, exit, "(Ljava/lang/Object;J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }
}
