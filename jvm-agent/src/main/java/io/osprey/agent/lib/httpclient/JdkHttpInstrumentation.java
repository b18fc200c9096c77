package io.osprey.agent.lib.httpclient;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.AgentPremain;
import io.osprey.agent.lib.JdkModules;
import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * The JDK's HTTP clients, the only platform classes the agent changes (an explicit allow-list,
 * {@link #CLASSES}; every other {@code java.*}, {@code jdk.*} and {@code sun.*} class stays
 * excluded by {@link HookTransformer}):
 *
 * <ul>
 *   <li>{@code sun.net.www.protocol.http.HttpURLConnection} (behind {@code
 *       java.net.HttpURLConnection}, also for HTTPS through its delegate): the first of {@code
 *       connect()}, {@code getOutputStream()} and {@code getInputStream()} on a connection not yet
 *       connected opens the CLIENT step and sets {@code traceparent}; the outermost {@code
 *       getInputStream()} (which {@code getResponseCode()} and {@code getHeaderField()} call)
 *       closes it once the response is there.
 *   <li>{@code jdk.internal.net.http.HttpClientImpl.send}: a CLIENT step around the call; the
 *       header goes into the system headers of the client's internal copy of the request ({@code
 *       HttpRequestImpl(HttpRequest, ProxySelector)}, built on the calling thread), since the
 *       application's {@code HttpRequest} is immutable. {@code sendAsync} is a CLIENT step too,
 *       exited when the call returns its future but ended, through a deferred end, when the
 *       future completes on the client's threads (status, or the failure).
 * </ul>
 *
 * <p>Named modules: {@code java.base} and {@code java.net.http} are made to read the boot
 * loader's unnamed module (where the bridge lives) and {@code java.net.http} exports {@code
 * jdk.internal.net.http.common} to it, through {@code Instrumentation.redefineModule} (reached
 * by reflection: the agent is compiled for Java 8). Classes loaded before the agent started are
 * retransformed; only method bodies change.
 */
public final class JdkHttpInstrumentation implements ClassFileTransformer {
    static final String URL_CONNECTION = "sun/net/www/protocol/http/HttpURLConnection";
    static final String CLIENT = "jdk/internal/net/http/HttpClientImpl";
    static final String REQUEST = "jdk/internal/net/http/HttpRequestImpl";

    /** Exactly the classes this transformer changes. */
    static final Set<String> CLASSES = Collections.unmodifiableSet(
            new HashSet<String>(Arrays.asList(URL_CONNECTION, CLIENT, REQUEST)));

    private static final String HTTP_CLIENTS = ApacheHttpInstrumentation.HTTP_CLIENTS;
    private static final String SEND_DESC =
            "(Ljava/net/http/HttpRequest;Ljava/net/http/HttpResponse$BodyHandler;)Ljava/net/http/HttpResponse;";
    private static final String SEND_ASYNC_DESC = "(Ljava/net/http/HttpRequest;"
            + "Ljava/net/http/HttpResponse$BodyHandler;Ljava/net/http/HttpResponse$PushPromiseHandler;)"
            + "Ljava/util/concurrent/CompletableFuture;";
    private static final String REQUEST_INIT_DESC = "(Ljava/net/http/HttpRequest;Ljava/net/ProxySelector;)V";
    private static final String HEADERS_FIELD = "systemHeadersBuilder";
    private static final String HEADERS_DESC = "Ljdk/internal/net/http/common/HttpHeadersBuilder;";

    private volatile boolean failureLogged;

    /**
     * Opens the modules, registers this transformer (retransformation capable) and retransforms
     * the allow-listed classes already loaded. Never throws.
     */
    void install(Instrumentation inst) {
        try {
            // java.base and java.net.http link to the bridge; java.net.http exports its headers
            // builder's package to it.
            JdkModules.readBridge(inst, HttpClients.class, "java.base", null, null);
            JdkModules.readBridge(inst, HttpClients.class, "java.net.http", "jdk.internal.net.http.common", null);
            JdkModules.addAndRetransform(inst, this, CLASSES);
        } catch (Throwable t) {
            logOnce("cannot instrument the JDK's HTTP clients: " + AgentPremain.oneLine(t));
        }
    }

    /** The allow-listed classes, instrumented; null (unchanged) for every other class and on failure. */
    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
            ProtectionDomain domain, byte[] bytes) {
        if (className == null || bytes == null || !CLASSES.contains(className)) {
            return null;
        }
        try {
            return rewrite(className, new ClassReader(bytes));
        } catch (Throwable t) {
            logOnce("left " + className.replace('/', '.') + " unchanged: " + AgentPremain.oneLine(t));
            return null;
        }
    }

    private void logOnce(String message) {
        if (!failureLogged) {
            failureLogged = true;
            System.err.println("osprey: " + message);
        }
    }

    /** The instrumented class, or null when it does not have the expected shape. */
    static byte[] rewrite(String className, ClassReader reader) {
        if (URL_CONNECTION.equals(className)) {
            return rewriteUrlConnection(reader);
        }
        if (CLIENT.equals(className)) {
            byte[] send = ApacheHttpInstrumentation.rewriteCall(reader, "send", SEND_DESC, "jdkEnter", 1, "jdkExit");
            if (send == null) {
                return null;
            }
            // The public sendAsync with a push-promise handler: the two-argument one calls it, and
            // send() goes past both to a private overload, so each call is one step.
            byte[] async = ApacheHttpInstrumentation.rewriteCall(new ClassReader(send), "sendAsync",
                    SEND_ASYNC_DESC, "jdkEnter", 1, "jdkAsyncExit");
            return async != null ? async : send;
        }
        if (REQUEST.equals(className)) {
            return rewriteRequest(reader, REQUEST_INIT_DESC, HEADERS_FIELD, HEADERS_DESC);
        }
        return null;
    }

    /**
     * {@code connect()}, {@code getOutputStream()} and {@code getInputStream()} of a {@code
     * URLConnection} subclass: {@code long h = HttpClients.urlEnter(this, this.connected,
     * isInput); try { body; HttpClients.urlExit(h, this); } catch (Throwable t) {
     * HttpClients.urlExitError(t, h); throw t; }}.
     */
    static byte[] rewriteUrlConnection(ClassReader reader) {
        final String owner = reader.getClassName();
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if ((access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                final boolean input;
                if (name.equals("getInputStream") && desc.equals("()Ljava/io/InputStream;")) {
                    input = true;
                } else if ((name.equals("getOutputStream") && desc.equals("()Ljava/io/OutputStream;"))
                        || (name.equals("connect") && desc.equals("()V"))) {
                    input = false;
                } else {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadThis();
                        loadThis();
                        visitFieldInsn(GETFIELD, owner, "connected", "Z");
                        push(input);
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, "urlEnter", "(Ljava/lang/Object;ZZ)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        loadThis();
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, "urlExit", "(JLjava/lang/Object;)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        // The handler's frame holds only the handle: no `this` here.
                        visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, "urlExitError", "(Ljava/lang/Throwable;J)V",
                                false);
                    }
                };
            }
        });
    }

    /**
     * At the end of the constructor {@code initDesc}: {@code HttpClients.jdkRequest(this,
     * this.<field>)}. Null (class left alone) unless the class declares {@code field} with {@code
     * fieldDesc}, so a JDK that renamed it cannot fail with NoSuchFieldError.
     */
    static byte[] rewriteRequest(ClassReader reader, final String initDesc, final String field,
            final String fieldDesc) {
        final boolean[] hasField = {false};
        reader.accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public FieldVisitor visitField(int access, String name, String desc, String signature, Object value) {
                if (name.equals(field) && desc.equals(fieldDesc) && (access & Opcodes.ACC_STATIC) == 0) {
                    hasField[0] = true;
                }
                return null;
            }
        }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return hasField[0] ? rewriteConstructor(reader, initDesc, field, fieldDesc) : null;
    }

    private static byte[] rewriteConstructor(ClassReader reader, final String initDesc, final String field,
            final String fieldDesc) {
        final String owner = reader.getClassName();
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!name.equals("<init>") || !desc.equals(initDesc)) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == RETURN) {
                            loadThis();
                            loadThis();
                            visitFieldInsn(GETFIELD, owner, field, fieldDesc);
                            visitMethodInsn(INVOKESTATIC, HTTP_CLIENTS, "jdkRequest",
                                    "(Ljava/lang/Object;Ljava/lang/Object;)V", false);
                        }
                    }
                };
            }
        });
    }

    /**
     * Runs each HTTP rewrite once, on a class generated here with the same method shapes, so that
     * every class they need (their anonymous adapters included) is loaded before the first
     * transform. Returns how many rewrites changed it (4). Best effort.
     */
    static int warmUp() {
        int done = 0;
        try {
            byte[] code = warmupShape();
            done += rewriteUrlConnection(new ClassReader(code)) != null ? 1 : 0;
            done += rewrite(CLIENT, new ClassReader(code)) != null ? 1 : 0;
            done += rewrite(REQUEST, new ClassReader(code)) != null ? 1 : 0;
            done += ApacheHttpInstrumentation.rewriteCall(new ClassReader(code), "doExecute",
                    ApacheHttpInstrumentation.CLASSES.get("org/apache/hc/client5/http/impl/classic/InternalHttpClient"),
                    "apacheEnter", 2, "apacheExit") != null ? 1 : 0;
        } catch (Throwable ignored) {
            // only a warm-up
        }
        return done;
    }

    /** A class (never defined) with the methods and field the HTTP rewrites look for. */
    static byte[] warmupShape() {
        ClassWriter cw = new ClassWriter(ClassWriter.COMPUTE_MAXS);
        cw.visit(Opcodes.V1_8, Opcodes.ACC_PUBLIC | Opcodes.ACC_SUPER, "io/osprey/agent/HttpWarmupShape", null,
                "java/lang/Object", null);
        cw.visitField(Opcodes.ACC_PRIVATE, HEADERS_FIELD, HEADERS_DESC, null, null).visitEnd();
        MethodVisitor init = cw.visitMethod(Opcodes.ACC_PUBLIC, "<init>", REQUEST_INIT_DESC, null, null);
        init.visitCode();
        init.visitVarInsn(Opcodes.ALOAD, 0);
        init.visitMethodInsn(Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false);
        init.visitInsn(Opcodes.RETURN);
        init.visitMaxs(0, 0);
        init.visitEnd();
        String[][] methods = {
            {"connect", "()V"},
            {"getInputStream", "()Ljava/io/InputStream;"},
            {"send", SEND_DESC},
            {"doExecute", ApacheHttpInstrumentation.CLASSES.get("org/apache/http/impl/client/InternalHttpClient")},
            {"doExecute", ApacheHttpInstrumentation.CLASSES.get(
                    "org/apache/hc/client5/http/impl/classic/InternalHttpClient")},
        };
        for (String[] m : methods) {
            MethodVisitor mv = cw.visitMethod(Opcodes.ACC_PUBLIC, m[0], m[1], null, null);
            mv.visitCode();
            if (m[1].endsWith(")V")) {
                mv.visitInsn(Opcodes.RETURN);
            } else {
                mv.visitInsn(Opcodes.ACONST_NULL);
                mv.visitInsn(Opcodes.ARETURN);
            }
            mv.visitMaxs(0, 0);
            mv.visitEnd();
        }
        cw.visitEnd();
        return cw.toByteArray();
    }
}
