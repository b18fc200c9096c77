package io.osprey.agent.lib.executor;

import io.osprey.agent.AgentPremain;
import io.osprey.agent.lib.JdkModules;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import org.objectweb.asm.ClassReader;

/**
 * The JDK's executors, an explicit allow-list of platform classes ({@link #CLASSES}): {@code
 * ThreadPoolExecutor.execute} (which {@code submit} and {@code invokeAll} call), {@code
 * ScheduledThreadPoolExecutor}'s immediate {@code execute} and {@code submit} and its delayed
 * {@code schedule} ({@link Tasks#wrapDelayed}; its periodic methods are left alone), {@code
 * ForkJoinPool}'s {@code execute} and {@code submit} of plain tasks (where {@code
 * CompletableFuture}'s async methods go; recursive {@code ForkJoinTask}s are left alone), the
 * thread-per-task executor of {@code CompletableFuture} (JDK 17 with one CPU for the common pool)
 * and the JDK 21+ one behind {@code Executors.newVirtualThreadPerTaskExecutor()}, {@code
 * CompletableFuture}'s delayed executor and JDK 25's {@code ForkJoinPool.schedule} (delayed
 * tasks); {@code Thread.start/run/exit} ({@link Tasks#threadStarting}); and, JDK 21+, {@code
 * ThreadBuilders.newVirtualThread} ({@link Tasks#wrapThread}) and {@code
 * VirtualThread.mount()}/{@code unmount()}, so that a virtual thread's transaction follows it
 * from carrier to carrier ({@link Tasks#unmounting}). Their task
 * argument goes through {@link Tasks#wrap} on entry; only method bodies change, so classes
 * loaded before the agent are retransformed. {@code java.base} is made to read the bridge's
 * module and to open {@code java.util.concurrent} to it (so tasks are named after the
 * application's callable inside a {@code FutureTask}).
 */
public final class JdkExecutorInstrumentation implements ClassFileTransformer {
    private static final String RUN = "Ljava/lang/Runnable;";
    private static final String CALL = "Ljava/util/concurrent/Callable;";

    /** JDK 21+: its transaction follows a virtual thread from carrier to carrier. */
    static final String VIRTUAL_THREAD = "java/lang/VirtualThread";

    /** {@code new Thread(r).start()}: {@link Tasks#threadStarting} and {@link Tasks#threadRun}. */
    static final String THREAD = "java/lang/Thread";

    /** {@code CompletableFuture.delayedExecutor(...)}'s executor: its tasks are delayed ones. */
    static final String DELAYED_EXECUTOR = "java/util/concurrent/CompletableFuture$DelayedExecutor";

    /** JDK 21+: every virtual thread is made by its {@code newVirtualThread}, see {@link Tasks#wrapThread}. */
    static final String THREAD_BUILDERS = "java/lang/ThreadBuilders";

    /** {@code ThreadBuilders.newVirtualThread(scheduler, name, characteristics, task)}. */
    static final String NEW_VIRTUAL_THREAD =
            "newVirtualThread(Ljava/util/concurrent/Executor;Ljava/lang/String;I" + RUN + ")Ljava/lang/Thread;";

    /** Exactly the classes this transformer changes, with the methods whose task it wraps. */
    static final Map<String, String[]> CLASSES;

    static {
        Map<String, String[]> m = new HashMap<String, String[]>();
        m.put("java/util/concurrent/ThreadPoolExecutor", new String[] {"execute(" + RUN + ")V"});
        m.put("java/util/concurrent/ScheduledThreadPoolExecutor", new String[] {
            "execute(" + RUN + ")V",
            "submit(" + RUN + ")Ljava/util/concurrent/Future;",
            "submit(" + RUN + "Ljava/lang/Object;)Ljava/util/concurrent/Future;",
            "submit(" + CALL + ")Ljava/util/concurrent/Future;",
            ExecutorInstrumentation.SCHEDULE_RUNNABLE,
            ExecutorInstrumentation.SCHEDULE_CALLABLE});
        m.put("java/util/concurrent/ForkJoinPool", new String[] {
            "execute(" + RUN + ")V",
            "submit(" + RUN + ")Ljava/util/concurrent/ForkJoinTask;",
            "submit(" + RUN + "Ljava/lang/Object;)Ljava/util/concurrent/ForkJoinTask;",
            "submit(" + CALL + ")Ljava/util/concurrent/ForkJoinTask;",
            // JDK 25+: a ForkJoinPool is a ScheduledExecutorService too.
            ExecutorInstrumentation.SCHEDULE_RUNNABLE,
            ExecutorInstrumentation.SCHEDULE_CALLABLE});
        m.put(DELAYED_EXECUTOR, new String[] {"execute(" + RUN + ")V"});
        m.put(THREAD_BUILDERS, new String[0]);
        m.put("java/util/concurrent/CompletableFuture$ThreadPerTaskExecutor", new String[] {"execute(" + RUN + ")V"});
        m.put("java/util/concurrent/ThreadPerTaskExecutor", new String[] {
            "execute(" + RUN + ")V", "submit(" + CALL + ")Ljava/util/concurrent/Future;"});
        m.put(VIRTUAL_THREAD, new String[0]);
        m.put(THREAD, new String[0]);
        CLASSES = Collections.unmodifiableMap(m);
    }

    private volatile boolean failureLogged;

    /** Opens the module, registers this transformer and retransforms the classes already loaded. */
    void install(Instrumentation inst) {
        try {
            // java.base reads the bridge and opens java.util.concurrent to it.
            JdkModules.readBridge(inst, Tasks.class, "java.base", null, "java.util.concurrent");
            // ... and java.lang, where a plain thread's target is read.
            JdkModules.readBridge(inst, Tasks.class, "java.base", null, "java.lang");
            java.util.Set<String> executors = new java.util.HashSet<String>(CLASSES.keySet());
            executors.remove(THREAD);
            JdkModules.addAndRetransform(inst, this, executors);
        } catch (Throwable t) {
            logOnce("cannot instrument the JDK's executors: " + AgentPremain.oneLine(t));
            return;
        }
        try {
            // On its own: a failure leaves the executors instrumented.
            inst.retransformClasses(Thread.class);
        } catch (Throwable t) {
            logOnce("cannot instrument Thread.start: " + AgentPremain.oneLine(t));
        }
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
            ProtectionDomain domain, byte[] bytes) {
        if (className == null || bytes == null || loader != null) {
            return null;
        }
        String[] methods = CLASSES.get(className);
        if (methods == null) {
            return null;
        }
        try {
            if (VIRTUAL_THREAD.equals(className)) {
                return rewriteVirtualThread(new ClassReader(bytes));
            }
            if (THREAD.equals(className)) {
                return rewriteThread(new ClassReader(bytes));
            }
            if (THREAD_BUILDERS.equals(className)) {
                return rewriteThreadBuilders(new ClassReader(bytes));
            }
            return ExecutorInstrumentation.wrapFirstArgument(new ClassReader(bytes), methods,
                    DELAYED_EXECUTOR.equals(className));
        } catch (Throwable t) {
            logOnce("left " + className.replace('/', '.') + " unchanged: " + AgentPremain.oneLine(t));
            return null;
        }
    }

    /**
     * {@code VirtualThread.unmount()} calls {@link Tasks#unmounting} first, {@code mount()} calls
     * {@link Tasks#mounted} last; null when the class has neither (before JDK 21).
     */
    static byte[] rewriteVirtualThread(ClassReader reader) {
        return io.osprey.agent.ClassRewriter.rewrite(reader, new io.osprey.agent.ClassRewriter.MethodAdapter() {
            @Override
            public org.objectweb.asm.MethodVisitor adapt(org.objectweb.asm.MethodVisitor mv, int access, String name,
                    String desc, boolean frames) {
                final boolean unmount = name.equals("unmount");
                if ((!unmount && !name.equals("mount")) || !desc.equals("()V")
                        || (access & org.objectweb.asm.Opcodes.ACC_STATIC) != 0) {
                    return null;
                }
                return new org.objectweb.asm.commons.AdviceAdapter(org.objectweb.asm.Opcodes.ASM9, mv, access, name,
                        desc) {
                    @Override
                    protected void onMethodEnter() {
                        if (unmount) {
                            loadThis();
                            visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "unmounting",
                                    "(Ljava/lang/Object;)V", false);
                        }
                    }

                    @Override
                    protected void onMethodExit(int opcode) {
                        if (!unmount && opcode == RETURN) {
                            loadThis();
                            visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "mounted",
                                    "(Ljava/lang/Object;)V", false);
                        }
                    }
                };
            }
        });
    }

    /**
     * {@code ThreadBuilders.newVirtualThread}'s task argument replaced on entry by {@link
     * Tasks#wrapThread} of it; null when the class has no such method (before JDK 21).
     */
    static byte[] rewriteThreadBuilders(ClassReader reader) {
        return io.osprey.agent.ClassRewriter.rewrite(reader, new io.osprey.agent.ClassRewriter.MethodAdapter() {
            @Override
            public org.objectweb.asm.MethodVisitor adapt(org.objectweb.asm.MethodVisitor mv, int access, String name,
                    String desc, boolean frames) {
                if ((access & org.objectweb.asm.Opcodes.ACC_STATIC) == 0 || !NEW_VIRTUAL_THREAD.equals(name + desc)) {
                    return null;
                }
                return new org.objectweb.asm.commons.AdviceAdapter(org.objectweb.asm.Opcodes.ASM9, mv, access, name,
                        desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(3);
                        visitMethodInsn(INVOKESTATIC, ExecutorInstrumentation.TASKS, "wrapThread",
                                "(" + RUN + ")" + RUN, false);
                        storeArg(3);
                    }
                };
            }
        });
    }

    /**
     * {@code Thread.start()} around {@link Tasks#threadStarting} (its failure gives the fork back),
     * {@code Thread.run()}, {@code java.lang.Thread}'s own body that runs the target, around
     * {@link Tasks#threadRun}, and {@code Thread.exit()}, which the JVM calls as a thread ends,
     * calling {@link Tasks#threadExit} first; null when the class has none of them.
     */
    static byte[] rewriteThread(ClassReader reader) {
        return io.osprey.agent.ClassRewriter.rewrite(reader, new io.osprey.agent.ClassRewriter.MethodAdapter() {
            @Override
            public org.objectweb.asm.MethodVisitor adapt(org.objectweb.asm.MethodVisitor mv, int access, String name,
                    String desc, boolean frames) {
                final boolean start = name.equals("start");
                if ((!start && !name.equals("run") && !name.equals("exit")) || !desc.equals("()V")
                        || (access & (org.objectweb.asm.Opcodes.ACC_STATIC | org.objectweb.asm.Opcodes.ACC_ABSTRACT
                                | org.objectweb.asm.Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                final String tasks = ExecutorInstrumentation.TASKS;
                if (name.equals("exit")) {
                    return new org.objectweb.asm.commons.AdviceAdapter(org.objectweb.asm.Opcodes.ASM9, mv, access,
                            name, desc) {
                        @Override
                        protected void onMethodEnter() {
                            loadThis();
                            visitMethodInsn(INVOKESTATIC, tasks, "threadExit", "(Ljava/lang/Object;)V", false);
                        }
                    };
                }
                return new io.osprey.agent.AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadThis();
                        visitMethodInsn(INVOKESTATIC, tasks, start ? "threadStarting" : "threadRun",
                                "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, tasks, start ? "threadStarted" : "threadRunExit", "(J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        // The handler's frame has only the handle: no `this` here.
                        visitMethodInsn(INVOKESTATIC, tasks, start ? "threadStartFailed" : "threadRunError",
                                "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }

    private void logOnce(String message) {
        if (!failureLogged) {
            failureLogged = true;
            System.err.println("osprey: " + message);
        }
    }
}
