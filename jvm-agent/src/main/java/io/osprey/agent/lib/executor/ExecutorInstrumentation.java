package io.osprey.agent.lib.executor;

import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Executors outside the JDK, through the main transformer, by class name: Spring's {@code
 * SimpleAsyncTaskExecutor} (its {@code execute} methods, which its {@code submit} methods call),
 * the servlet containers' {@code AsyncContext.start(Runnable)} (Tomcat's and Undertow's {@code
 * AsyncContextImpl}), whose task argument goes through {@link Tasks#wrap}; and Spring's {@code
 * AsyncExecutionInterceptor.invoke}, around which the tasks submitted are named after the
 * {@code @Async} method ({@link Tasks#springAsyncEnter}). The JDK's executors are changed by
 * {@link JdkExecutorInstrumentation}.
 */
public final class ExecutorInstrumentation extends LibraryInstrumentation {
    static final String TASKS = "io/osprey/agent/lib/executor/Tasks";
    static final String RUNNABLE = "Ljava/lang/Runnable;";
    static final String CALLABLE = "Ljava/util/concurrent/Callable;";

    /** Class → its methods ({@code name + desc}) whose first argument is wrapped. */
    static final Map<String, String[]> CLASSES;

    static {
        Map<String, String[]> m = new HashMap<String, String[]>();
        m.put("org/springframework/core/task/SimpleAsyncTaskExecutor",
                new String[] {"execute(Ljava/lang/Runnable;)V", "execute(Ljava/lang/Runnable;J)V"});
        m.put("org/apache/catalina/core/AsyncContextImpl", new String[] {"start(Ljava/lang/Runnable;)V"});
        m.put("io/undertow/servlet/spec/AsyncContextImpl", new String[] {"start(Ljava/lang/Runnable;)V"});
        CLASSES = Collections.unmodifiableMap(m);
    }

    /** {@code ScheduledExecutorService.schedule} of a delayed {@code Runnable}: {@link Tasks#wrapDelayed}. */
    static final String SCHEDULE_RUNNABLE =
            "schedule(" + RUNNABLE + "JLjava/util/concurrent/TimeUnit;)Ljava/util/concurrent/ScheduledFuture;";
    /** The same for a {@code Callable}: {@link Tasks#wrapDelayedCallable}. */
    static final String SCHEDULE_CALLABLE =
            "schedule(" + CALLABLE + "JLjava/util/concurrent/TimeUnit;)Ljava/util/concurrent/ScheduledFuture;";

    static final String SPRING_ASYNC = "org/springframework/aop/interceptor/AsyncExecutionInterceptor";
    static final String SPRING_ASYNC_INVOKE =
            "invoke(Lorg/aopalliance/intercept/MethodInvocation;)Ljava/lang/Object;";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (internalName.equals(SPRING_ASYNC)) {
            return rewriteHint(reader);
        }
        String[] methods = CLASSES.get(internalName);
        return methods == null ? null : wrapFirstArgument(reader, methods);
    }

    /**
     * The class with the first argument of each of {@code methods} ({@code name + desc}; a
     * {@code Runnable} or a {@code Callable}) replaced on entry by {@link Tasks#wrap} or {@link
     * Tasks#wrapCallable} of it ({@link Tasks#wrapDelayed} for {@link #SCHEDULE_RUNNABLE} and
     * {@link #SCHEDULE_CALLABLE}); null when none is declared. Public and non-public methods alike.
     */
    public static byte[] wrapFirstArgument(ClassReader reader, final String[] methods) {
        return wrapFirstArgument(reader, methods, false);
    }

    /**
     * As {@link #wrapFirstArgument(ClassReader, String[])}; with {@code delayed}, every matched
     * method's task is a delayed one ({@link Tasks#wrapDelayed}: {@code CompletableFuture}'s
     * delayed executor).
     */
    public static byte[] wrapFirstArgument(ClassReader reader, final String[] methods, final boolean delayed) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if ((access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE
                        | Opcodes.ACC_BRIDGE | Opcodes.ACC_SYNTHETIC)) != 0) {
                    return null;
                }
                String key = name + desc;
                boolean match = false;
                for (String m : methods) {
                    match |= m.equals(key);
                }
                if (!match) {
                    return null;
                }
                final boolean callable = desc.startsWith("(" + CALLABLE);
                final String suffix =
                        delayed || key.equals(SCHEDULE_RUNNABLE) || key.equals(SCHEDULE_CALLABLE) ? "Delayed" : "";
                if (!callable && !desc.startsWith("(" + RUNNABLE)) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodEnter() {
                        loadArg(0);
                        if (callable) {
                            visitMethodInsn(INVOKESTATIC, TASKS, "wrap" + suffix + "Callable",
                                    "(" + CALLABLE + ")" + CALLABLE, false);
                        } else {
                            visitMethodInsn(INVOKESTATIC, TASKS, "wrap" + suffix, "(" + RUNNABLE + ")" + RUNNABLE,
                                    false);
                        }
                        storeArg(0);
                    }
                };
            }
        });
    }

    /** {@code AsyncExecutionInterceptor.invoke}: the {@code @Async} method names the tasks it submits. */
    static byte[] rewriteHint(ClassReader reader) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if ((access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT)) != 0
                        || !SPRING_ASYNC_INVOKE.equals(name + desc)) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, TASKS, "springAsyncEnter", "(Ljava/lang/Object;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, TASKS, "springAsyncExit", "(J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, TASKS, "springAsyncError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }
}
