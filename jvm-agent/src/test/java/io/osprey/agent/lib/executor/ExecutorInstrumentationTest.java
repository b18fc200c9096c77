package io.osprey.agent.lib.executor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.lang.reflect.InvocationTargetException;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/** The executor rewrites verify and keep behaviour; task names; only allow-listed classes change. */
class ExecutorInstrumentationTest {
    private static ClassReader reader(String name) throws Exception {
        return new ClassReader(TestClasses.bytes("/" + name + ".class"));
    }

    @Test
    void wrappedExecuteAndSubmitStillRunTheTaskAndPassItOnUnchangedOutsideATransaction() throws Exception {
        byte[] out = ExecutorInstrumentation.wrapFirstArgument(reader("sample/FakeExecutor"), new String[] {
            "execute(Ljava/lang/Runnable;)V", "submit(Ljava/util/concurrent/Callable;)Ljava/lang/Object;"});
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeExecutor", out);
        Object executor = c.getDeclaredConstructor().newInstance();
        AtomicInteger runs = new AtomicInteger();
        Runnable task = runs::incrementAndGet;
        c.getMethod("execute", Runnable.class).invoke(executor, task);
        assertEquals(1, runs.get());
        assertSame(task, c.getField("last").get(executor), "no transaction: the task itself");
        Callable<String> call = () -> "done";
        assertEquals("done", c.getMethod("submit", Callable.class).invoke(executor, call));
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
                () -> c.getMethod("execute", Runnable.class).invoke(executor, (Object) null));
        assertTrue(e.getCause() instanceof NullPointerException, "the executor's own failure, unchanged");
    }

    @Test
    void onlyTheListedMethodsAndClassesAreChanged() throws Exception {
        assertNull(ExecutorInstrumentation.wrapFirstArgument(reader("sample/FakeExecutor"),
                new String[] {"execute(Ljava/lang/Object;)V"}));
        assertNull(new ExecutorInstrumentation().transform(null, "sample/FakeExecutor", reader("sample/FakeExecutor")));
        assertTrue(JdkExecutorInstrumentation.CLASSES.containsKey("java/util/concurrent/ThreadPoolExecutor"));
        assertTrue(JdkExecutorInstrumentation.CLASSES.containsKey("java/util/concurrent/ForkJoinPool"));
        // Delayed tasks are wrapped, periodic ones never.
        String[] scheduled = JdkExecutorInstrumentation.CLASSES.get("java/util/concurrent/ScheduledThreadPoolExecutor");
        java.util.List<String> methods = java.util.Arrays.asList(scheduled);
        assertTrue(methods.contains(ExecutorInstrumentation.SCHEDULE_RUNNABLE));
        assertTrue(methods.contains(ExecutorInstrumentation.SCHEDULE_CALLABLE));
        for (String m : scheduled) {
            assertTrue(!m.startsWith("scheduleAtFixedRate") && !m.startsWith("scheduleWithFixedDelay"), m);
        }
        assertTrue(JdkExecutorInstrumentation.CLASSES.containsKey("java/lang/Thread"));
    }

    @Test
    void outsideATransactionTasksAndThreadsPassUnchanged() {
        Runnable task = () -> { };
        Callable<String> call = () -> "x";
        assertSame(task, Tasks.wrapDelayed(task));
        assertSame(call, Tasks.wrapDelayedCallable(call));
        Thread t = new Thread(task);
        assertEquals(0L, Tasks.threadStarting(t));
        assertEquals(0L, Tasks.threadRun(t));
        Tasks.threadRunExit(0L);
        Tasks.threadStartFailed(new IllegalStateException(), 0L);
    }

    @Test
    void aPlainThreadsTargetIsRead() throws Exception {
        Runnable task = () -> { };
        Object target;
        try {
            target = Tasks.threadTarget(new Thread(task));
        } catch (RuntimeException notOpened) {
            return; // java.lang is opened to the agent only inside it
        }
        assertSame(task, target);
    }

    @Test
    void tasksAreNamedAfterTheApplicationsClassAndTheJdksOwnWorkIsNotRecorded() {
        assertEquals("async demo.Jobs$$Lambda", Tasks.taskName("demo.Jobs$$Lambda$14/0x0000000800c0b440"));
        assertEquals("async demo.Jobs$$Lambda", Tasks.taskName("demo.Jobs$$Lambda/0x0000000801001200"));
        assertEquals("async demo.Jobs$Report", Tasks.taskName("demo.Jobs$Report"));
        assertEquals("async java.util.concurrent.FutureTask", Tasks.taskName("java.util.concurrent.FutureTask"));
        assertNull(Tasks.taskName("java.lang.VirtualThread$$Lambda/0x1"), "a virtual thread's continuation");
        assertNull(Tasks.taskName("jdk.internal.net.http.common.SequentialScheduler$SchedulableTask"));
        assertNull(Tasks.taskName("io.osprey.agent.lib.executor.Tasks$Task"));
        assertNull(Tasks.taskName("org.apache.tomcat.util.net.NioEndpoint$SocketProcessor"));
        assertNull(Tasks.taskName("com.zaxxer.hikari.pool.HikariPool$PoolEntryCreator"));
        assertNull(Tasks.taskName("okhttp3.internal.concurrent.TaskRunner$runnable$1"), "OkHttp 4's housekeeping");
        assertNull(Tasks.taskName("okhttp3.ConnectionPool$1"), "OkHttp 3's pool cleanup");
        assertEquals("async okhttp3.internal.connection.RealCall$AsyncCall",
                Tasks.taskName("okhttp3.internal.connection.RealCall$AsyncCall"), "an enqueued call is the application's");
    }

    @Test
    void theApplicationsTaskIsFoundInsideTheJdksAdapters() throws Exception {
        Callable<String> mine = () -> "x";
        java.util.concurrent.FutureTask<String> future = new java.util.concurrent.FutureTask<String>(mine);
        Object inner = Tasks.innermost(future);
        // Inside the agent java.util.concurrent is opened to it; here it may not be.
        assertTrue(inner == mine || inner == future, String.valueOf(inner));
        assertSame(mine, Tasks.innermost(mine));
    }

    @Test
    void anApplicationsThreadSubclassHasItsRunWrappedAndStillRuns() throws Exception {
        ClassReader worker = reader("sample/FakeWorker");
        assertTrue(ThreadRunInstrumentation.declaresRun(worker));
        byte[] out = ThreadRunInstrumentation.rewriteRun(worker);
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeWorker", out);
        Thread t = (Thread) c.getDeclaredConstructor().newInstance();
        t.run(); // not started: nothing to begin, the body runs as before
        t.start();
        t.join();
        assertEquals(2, c.getField("runs").getInt(t));
        // A subclass of it: its own run() is wrapped too, and its failure goes through unchanged.
        byte[] deep = ThreadRunInstrumentation.rewriteRun(reader("sample/FakeDeepWorker"));
        assertNotNull(deep);
        // No run() of its own: nothing to wrap.
        assertNull(ThreadRunInstrumentation.rewriteRun(reader("sample/FakeExecutor")));
        assertTrue(!ThreadRunInstrumentation.declaresRun(reader("sample/FakeExecutor")));
    }

    @Test
    void threadSubclassesAreFoundFromClassFilesAndLibrariesAreLeftAlone() {
        ClassLoader loader = getClass().getClassLoader();
        assertTrue(ThreadRunInstrumentation.extendsThread(loader, "sample/FakeWorker"));
        assertTrue(ThreadRunInstrumentation.extendsThread(loader, "sample/FakeDeepWorker"), "two levels");
        assertTrue(!ThreadRunInstrumentation.extendsThread(loader, "sample/FakeExecutor"));
        assertTrue(!ThreadRunInstrumentation.extendsThread(loader, "sample/Missing"));
        assertTrue(ThreadRunInstrumentation.skipped("io/netty/util/concurrent/FastThreadLocalThread"));
        assertTrue(ThreadRunInstrumentation.skipped("org/springframework/scheduling/Worker"));
        assertTrue(ThreadRunInstrumentation.skipped("io/osprey/agent/lib/executor/Tasks"));
        assertTrue(!ThreadRunInstrumentation.skipped("demo/Worker"));
    }

    @Test
    void virtualThreadsDelayedExecutorsAndThreadExitsOutsideATransactionChangeNothing() throws Exception {
        Runnable task = () -> { };
        assertSame(task, Tasks.wrapThread(task));
        assertNull(Tasks.wrapThread(null));
        Thread worker = new Thread("w") {
            @Override
            public void run() {}
        };
        assertEquals(0L, Tasks.threadStarting(worker));
        Tasks.threadExit(worker);
        assertTrue(Tasks.library("io.netty.channel.nio.NioEventLoop"));
        assertTrue(!Tasks.library("demo.Jobs$1"));
        assertTrue(JdkExecutorInstrumentation.CLASSES.containsKey(JdkExecutorInstrumentation.DELAYED_EXECUTOR));
        assertTrue(JdkExecutorInstrumentation.CLASSES.containsKey(JdkExecutorInstrumentation.THREAD_BUILDERS));
        assertTrue(java.util.Arrays.asList(JdkExecutorInstrumentation.CLASSES.get("java/util/concurrent/ForkJoinPool"))
                .contains(ExecutorInstrumentation.SCHEDULE_RUNNABLE), "JDK 25's ForkJoinPool.schedule");
        // The JDK's own: CompletableFuture's timers and its delayed executor's relay are never named.
        assertNull(Tasks.taskName("java.util.concurrent.CompletableFuture$Timeout"));
        assertNull(Tasks.taskName("java.util.concurrent.CompletableFuture$Canceller"));
        // Where the JDK has virtual threads, its factory method is found and rewritten.
        try (java.io.InputStream in = ClassLoader.getSystemResourceAsStream("java/lang/ThreadBuilders.class")) {
            boolean has = false;
            try {
                Thread.class.getMethod("ofVirtual");
                has = true;
            } catch (NoSuchMethodException before21) {
                // JDK 17
            }
            if (in != null) {
                byte[] out = JdkExecutorInstrumentation.rewriteThreadBuilders(new ClassReader(in));
                assertEquals(has, out != null);
            }
        }
    }
}
