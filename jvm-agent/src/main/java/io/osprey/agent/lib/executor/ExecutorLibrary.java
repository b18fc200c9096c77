package io.osprey.agent.lib.executor;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import java.lang.instrument.Instrumentation;
import org.objectweb.asm.ClassReader;

/**
 * Context across threads ({@code instrument.executor}): work submitted inside a transaction to
 * the JDK's executors ({@link JdkExecutorInstrumentation}: immediate and delayed, never periodic,
 * {@code CompletableFuture.delayedExecutor} too), to a plain {@code new Thread(r).start()}, to a
 * virtual thread started directly, to the application's {@code Thread} subclasses ({@link
 * ThreadRunInstrumentation}), to Spring's task executors and {@code @Async}, and a servlet's
 * {@code AsyncContext.start} ({@link ExecutorInstrumentation}) is recorded where it runs, as a
 * step of the transaction or a linked child transaction ({@link Tasks}); a virtual thread's
 * transaction follows it from carrier to carrier.
 */
public final class ExecutorLibrary extends Library {
    /** The library, with a fresh transform. */
    public ExecutorLibrary() {
        super("executor", new ExecutorInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Tasks.init();
        return null;
    }

    @Override
    public void install(Instrumentation inst) {
        warmUpJdk();
        new JdkExecutorInstrumentation().install(inst);
        // Retransformation-capable transformers run after the others, the method hooks' among
        // them: a class both change gets both, and the thread's fork begins before a hook's step
        // on run() itself, which is then recorded inside it.
        ThreadRunInstrumentation.warmUp();
        inst.addTransformer(new ThreadRunInstrumentation(), true);
    }

    /** Loads the rewrite's classes before any platform class goes through it. */
    private static void warmUpJdk() {
        try {
            Tasks.wrap(null);
        } catch (Throwable ignored) {
            // only a warm-up
        }
    }

    @Override
    public void warmUp(byte[] code, String self) {
        ExecutorInstrumentation.wrapFirstArgument(new ClassReader(code),
                new String[] {"execute(Ljava/lang/Runnable;)V", "submit(Ljava/util/concurrent/Callable;)V"});
        ExecutorInstrumentation.rewriteHint(new ClassReader(code));
        JdkExecutorInstrumentation.rewriteVirtualThread(new ClassReader(code));
        JdkExecutorInstrumentation.rewriteThread(new ClassReader(code));
        JdkExecutorInstrumentation.rewriteThreadBuilders(new ClassReader(code));
    }
}
