package io.osprey.agent.lib.executor;

import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import java.io.InputStream;
import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.Map;
import java.util.WeakHashMap;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * The {@code run()} of the application's own subclasses of {@code java.lang.Thread} (a {@code
 * class Worker extends Thread} or an anonymous {@code new Thread() { public void run() ... }}),
 * which {@code Thread.run} never sees: around {@link Tasks#threadRun} like {@code Thread.run}
 * itself, so a subclass started inside a transaction ({@link Tasks#threadStarting}) records its
 * run there. Libraries' classes ({@link Tasks#library}) are left alone. The superclass chain is
 * read from the class files ({@code getResourceAsStream}), never loaded, and only for a class
 * that declares {@code run()} and extends something other than {@code Object}.
 *
 * <p>A transformer of its own, retransformation-capable so that it runs after the method hooks'
 * one: a class the hooks match gets both, the fork begun before a hook's step on {@code run()}.
 * Classes already loaded are never retransformed here.
 */
public final class ThreadRunInstrumentation implements ClassFileTransformer {
    private static final String THREAD = "java/lang/Thread";
    /** A class of the agent jar (on the system class path, see {@code HookTransformer}): a loader that cannot see it cannot see the bridge either and is left alone. */
    private static final String BRIDGE = "io/osprey/agent/AgentPremain.class";
    /** Superclasses read at most, from a class to {@code java.lang.Thread}. */
    private static final int MAX_DEPTH = 8;

    /** Per loader: whether it sees the bridge. */
    private final Map<ClassLoader, Boolean> seesBridge = new WeakHashMap<ClassLoader, Boolean>();

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
            ProtectionDomain domain, byte[] bytes) {
        if (loader == null || className == null || bytes == null || !Tasks.active() || skipped(className)) {
            return null;
        }
        try {
            ClassReader reader = new ClassReader(bytes);
            String superName = reader.getSuperName();
            if (superName == null || superName.equals("java/lang/Object")
                    || (reader.getAccess() & (Opcodes.ACC_INTERFACE | Opcodes.ACC_ANNOTATION)) != 0) {
                return null;
            }
            if (!superName.equals(THREAD) && (superName.startsWith("java/") || !declaresRun(reader)
                    || !extendsThread(loader, superName))) {
                return null;
            }
            return seesBridge(loader) ? rewriteRun(reader) : null;
        } catch (Throwable t) {
            return null; // the class runs as it is
        }
    }

    /** The JDK's, the agent's and libraries' classes ({@link Tasks#library}). */
    static boolean skipped(String internalName) {
        return internalName.startsWith("jdk/") || internalName.startsWith("sun/")
                || internalName.startsWith("com/sun/") || internalName.startsWith("io/osprey/agent/")
                || Tasks.library(internalName.replace('/', '.'));
    }

    /** Whether the class declares a concrete {@code run()V}. */
    static boolean declaresRun(ClassReader reader) {
        final boolean[] found = {false};
        reader.accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String signature,
                    String[] exceptions) {
                if (name.equals("run") && desc.equals("()V")
                        && (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT)) == 0) {
                    found[0] = true;
                }
                return null;
            }
        }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return found[0];
    }

    /** Whether {@code name}'s superclass chain, read from {@code loader}'s class files, reaches Thread. */
    static boolean extendsThread(ClassLoader loader, String name) {
        for (int depth = 0; depth < MAX_DEPTH && name != null; depth++) {
            if (name.equals(THREAD)) {
                return true;
            }
            if (name.equals("java/lang/Object") || name.startsWith("java/")) {
                return false;
            }
            try (InputStream in = loader.getResourceAsStream(name + ".class")) {
                if (in == null) {
                    return false;
                }
                name = new ClassReader(in).getSuperName();
            } catch (Throwable t) {
                return false;
            }
        }
        return false;
    }

    private boolean seesBridge(ClassLoader loader) {
        synchronized (seesBridge) {
            Boolean known = seesBridge.get(loader);
            if (known == null) {
                known = loader.getResource(BRIDGE) != null;
                seesBridge.put(loader, known);
            }
            return known;
        }
    }

    /**
     * The class with its {@code run()V} around {@link Tasks#threadRun} ({@link Tasks#threadRunExit},
     * {@link Tasks#threadRunError}); null when it declares none.
     */
    static byte[] rewriteRun(ClassReader reader) {
        return ClassRewriter.rewrite(reader, new ClassRewriter.MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!name.equals("run") || !desc.equals("()V")
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadThis();
                        visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "threadRun",
                                "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "threadRunExit", "(J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "threadRunError",
                                "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }

    /** Loads every class a transform needs (on {@code Thread}'s own class file) before it is registered. */
    static void warmUp() {
        try (InputStream in = ClassLoader.getSystemResourceAsStream("java/lang/Thread.class")) {
            if (in != null) {
                ClassReader reader = new ClassReader(in);
                declaresRun(reader);
                rewriteRun(reader);
                extendsThread(ThreadRunInstrumentation.class.getClassLoader() == null
                        ? ClassLoader.getSystemClassLoader() : ThreadRunInstrumentation.class.getClassLoader(),
                        "io/osprey/agent/lib/executor/ThreadRunInstrumentation");
            }
        } catch (Throwable ignored) {
            // only a warm-up
        }
        new ThreadRunInstrumentation().seesBridge(ClassLoader.getSystemClassLoader());
    }
}
