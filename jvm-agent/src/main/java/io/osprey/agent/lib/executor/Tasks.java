package io.osprey.agent.lib.executor;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Work handed to another thread inside a transaction. The instrumented executors call {@link
 * #wrap} (or {@link #wrapCallable}) with the task they are given: outside a transaction, or for
 * the JDK's own internal tasks, the task comes back unchanged; inside one it comes back as a
 * {@link Task} holding a fork of the transaction (see {@link OspreyNative#fork}). When the task
 * runs, on whatever thread, its work is recorded there: a step of the submitting transaction
 * named {@code async <task class>} under the step open at submission, with the worker thread's
 * name and the worker's own start and end, and the worker's steps inside it; or, when it ends
 * after the submitting transaction did, a transaction of its own in the same trace whose parent
 * is that step. The worker thread is left exactly as it was found: a transaction it had open is
 * parked while the task runs and restored after, so nothing leaks into unrelated work on pooled
 * threads.
 *
 * <p>A task that is never run (dropped from a queue, an executor shut down) gives its fork back
 * once it is garbage: a phantom reference per task, drained at the next wrap. A task run twice
 * records its first run only. Nothing here throws into the application.
 */
public final class Tasks {
    /** Step names start with this. */
    static final String PREFIX = "async ";

    /** Set when the library starts. */
    static volatile boolean on;

    private static int kThread = -1;

    /** Name id of each task class ({@code -1}: not recorded, a JDK-internal task). */
    private static final ClassValue<Integer> NAMES = new ClassValue<Integer>() {
        @Override
        protected Integer computeValue(Class<?> type) {
            String name = taskName(type.getName());
            return name == null ? -1 : OspreyNative.intern(name);
        }
    };

    /** The name the next fork on this thread takes instead of its task's class (Spring's {@code @Async}). */
    private static final ThreadLocal<String> HINT = new ThreadLocal<String>();
    private static final ConcurrentHashMap<String, Integer> HINT_IDS = new ConcurrentHashMap<String, Integer>();
    private static final int MAX_HINTS = 1024;

    private static final ReferenceQueue<Task> GONE = new ReferenceQueue<Task>();
    private static final Set<Pending> PENDING =
            java.util.Collections.newSetFromMap(new ConcurrentHashMap<Pending, Boolean>());

    private Tasks() {}

    /** Whether the library started (tasks are carried). */
    public static boolean active() {
        return on;
    }

    /** Interns the attribute keys; called once by the library's start. */
    public static void init() {
        kThread = OspreyNative.intern("thread.name");
        on = true;
    }

    /**
     * Packages whose tasks are infrastructure, not the application's work: the JDK's own
     * (virtual thread continuations, the HTTP client's internals), the servlet containers' (a
     * socket processor; an {@code AsyncContext.start} task is wrapped before the container wraps
     * it), connection pools' housekeeping (Hikari's; OkHttp's {@code TaskRunner} tasks, its HTTP/2
     * readers and writers and, in 3.x, its connection pool's cleanup, submitted from whichever
     * call happens to need them: not that call's work, and some outlive it), and the agent's.
     * OkHttp's {@code enqueue}d calls ({@code RealCall$AsyncCall}) are the application's work and
     * keep their context.
     */
    private static final String[] INFRASTRUCTURE = {
        "java.lang.", "jdk.", "sun.", "com.sun.", "io.osprey.agent.", "org.apache.tomcat.",
        "org.apache.catalina.", "org.apache.coyote.", "io.undertow.", "org.xnio.", "org.jboss.threads.",
        "com.zaxxer.hikari.", "okhttp3.internal.concurrent.", "okhttp3.internal.http2.", "okhttp3.ConnectionPool",
        "java.util.concurrent.CompletableFuture$Timeout",
        "java.util.concurrent.CompletableFuture$Canceller",
    };

    /**
     * The step name of a task of class {@code className}: {@code async demo.Jobs$$Lambda} (a
     * lambda's per-run suffix cut), or null for infrastructure tasks ({@link #INFRASTRUCTURE}),
     * which are never recorded.
     */
    static String taskName(String className) {
        for (String p : INFRASTRUCTURE) {
            if (className.startsWith(p)) {
                return null;
            }
        }
        int lambda = className.indexOf("$$Lambda");
        if (lambda >= 0) {
            className = className.substring(0, lambda + "$$Lambda".length());
        }
        return PREFIX + className;
    }

    /** The field holding the task a JDK task adapter wraps, per adapter class (null: none). */
    private static final ClassValue<java.lang.reflect.Field> INNER = new ClassValue<java.lang.reflect.Field>() {
        @Override
        protected java.lang.reflect.Field computeValue(Class<?> type) {
            String name = type.getName();
            String field;
            if (name.equals("java.util.concurrent.FutureTask")) {
                field = "callable";
            } else if (name.equals("java.util.concurrent.Executors$RunnableAdapter")) {
                field = "task";
            } else if (name.equals("java.util.concurrent.CompletableFuture$TaskSubmitter")) {
                field = "action"; // a delayed executor's relay
            } else if (name.startsWith("java.util.concurrent.CompletableFuture$")) {
                field = "fn"; // AsyncSupply, AsyncRun and the dependent stages (UniApply, ...)
            } else if (name.equals("org.springframework.scheduling.support.DelegatingErrorHandlingRunnable")) {
                field = "delegate"; // Spring's TaskScheduler wraps every task in one
            } else {
                return null;
            }
            try {
                java.lang.reflect.Field f = type.getDeclaredField(field);
                f.setAccessible(true);
                return f;
            } catch (Throwable t) {
                return null; // not opened to the agent: named by the adapter
            }
        }
    };

    /** The application's own task inside the JDK's adapters ({@code FutureTask} and others). */
    static Object innermost(Object task) {
        for (int i = 0; i < 4 && task != null; i++) {
            java.lang.reflect.Field f = INNER.get(task.getClass());
            if (f == null) {
                return task;
            }
            try {
                Object inner = f.get(task);
                if (inner == null) {
                    return task;
                }
                task = inner;
            } catch (Throwable t) {
                return task;
            }
        }
        return task;
    }

    /** {@code task}, or a {@link Task} carrying this thread's transaction when one is open. */
    public static Runnable wrap(Runnable task) {
        // A Comparable task may be ordered by a priority queue: it stays as it is.
        if (!on || !Osprey.enabled || task == null || task instanceof Task || task instanceof Comparable) {
            return task;
        }
        try {
            long cell = fork(task);
            return cell == 0L ? task : new Task(task, null, cell);
        } catch (Throwable t) {
            return task;
        }
    }

    /** As {@link #wrap}, for a {@link Callable}. */
    @SuppressWarnings("unchecked")
    public static <T> Callable<T> wrapCallable(Callable<T> task) {
        if (!on || !Osprey.enabled || task == null || task instanceof Task) {
            return task;
        }
        try {
            long cell = fork(task);
            return cell == 0L ? task : (Callable<T>) new Task(null, task, cell);
        } catch (Throwable t) {
            return task;
        }
    }

    /**
     * A task given to {@code ScheduledExecutorService.schedule} with a delay (Spring's {@code
     * TaskScheduler.schedule(task, Instant)} goes there): as {@link #wrap}, so it runs as a
     * linked child transaction when it starts after its transaction ended, or a step when it
     * starts before; except when this thread is itself running a delayed task (a task that
     * schedules itself again, or its successor, would otherwise chain every run onto the first
     * transaction's trace forever). Periodic tasks ({@code scheduleAtFixedRate}, {@code
     * scheduleWithFixedDelay}, a Spring {@code Trigger}'s {@code ReschedulingRunnable}, which is
     * a {@code Comparable} {@code ScheduledFuture}) are never given here: they do not carry the
     * transaction that scheduled them.
     */
    public static Runnable wrapDelayed(Runnable task) {
        if (!on || !Osprey.enabled || task == null || task instanceof Task || task instanceof Comparable) {
            return task;
        }
        try {
            if (IN_DELAYED.get()[0]) {
                return task;
            }
            long cell = fork(task);
            return cell == 0L ? task : new Task(task, null, cell, true);
        } catch (Throwable t) {
            return task;
        }
    }

    /** As {@link #wrapDelayed}, for a {@link Callable}. */
    @SuppressWarnings("unchecked")
    public static <T> Callable<T> wrapDelayedCallable(Callable<T> task) {
        if (!on || !Osprey.enabled || task == null || task instanceof Task) {
            return task;
        }
        try {
            if (IN_DELAYED.get()[0]) {
                return task;
            }
            long cell = fork(task);
            return cell == 0L ? task : (Callable<T>) new Task(null, task, cell, true);
        } catch (Throwable t) {
            return task;
        }
    }

    /** Set while this thread runs a delayed task: the tasks it schedules with a delay are not carried. */
    private static final ThreadLocal<boolean[]> IN_DELAYED = new ThreadLocal<boolean[]>() {
        @Override
        protected boolean[] initialValue() {
            return new boolean[1];
        }
    };

    /**
     * Names the tasks this thread submits until {@link #endHint} ({@code async Bean.method} for
     * Spring's {@code @Async}); returns the previous hint for {@link #endHint}.
     */
    public static String hint(String name) {
        if (!on) {
            return null;
        }
        try {
            String previous = HINT.get();
            HINT.set(name);
            return previous;
        } catch (Throwable t) {
            return null;
        }
    }

    /** Restores the hint {@link #hint} returned. */
    public static void endHint(String previous) {
        if (!on) {
            return;
        }
        try {
            if (previous == null) {
                HINT.remove();
            } else {
                HINT.set(previous);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    private static final ConcurrentHashMap<java.lang.reflect.Method, String> ASYNC_NAMES =
            new ConcurrentHashMap<java.lang.reflect.Method, String>();

    /**
     * Entry of Spring's {@code AsyncExecutionInterceptor.invoke(MethodInvocation)}: the tasks it
     * submits are named after the {@code @Async} method ({@code async demo.Reports.build}).
     * Returns 1 when a name was set, for {@link #springAsyncExit}.
     */
    public static long springAsyncEnter(Object invocation) {
        if (!on || !Osprey.enabled || invocation == null) {
            return 0L;
        }
        try {
            java.lang.reflect.Method getter = io.osprey.agent.bootstrap.Reflection.publicMethod(
                    invocation.getClass(), "getMethod");
            Object m = getter == null ? null : getter.invoke(invocation);
            if (!(m instanceof java.lang.reflect.Method)) {
                return 0L;
            }
            java.lang.reflect.Method method = (java.lang.reflect.Method) m;
            String name = ASYNC_NAMES.get(method);
            if (name == null) {
                name = method.getDeclaringClass().getName() + "." + method.getName();
                if (ASYNC_NAMES.size() < MAX_HINTS) {
                    ASYNC_NAMES.put(method, name);
                }
            }
            HINT.set(name);
            return 1L;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Exit of {@code AsyncExecutionInterceptor.invoke}: tasks are named by their class again. */
    public static void springAsyncExit(long handle) {
        if (handle != 0L) {
            endHint(null);
        }
    }

    /** As {@link #springAsyncExit}, when {@code invoke} throws; the caller rethrows. */
    public static void springAsyncError(Throwable thrown, long handle) {
        springAsyncExit(handle);
    }

    /** A fork of this thread's transaction for {@code task} (0: none), after releasing lost ones. */
    private static long fork(Object task) {
        drain();
        int name = nameOf(task);
        if (name < 0) {
            return 0L;
        }
        return OspreyNative.fork(name);
    }

    private static int nameOf(Object task) {
        String hint = HINT.get();
        if (hint != null) {
            Integer id = HINT_IDS.get(hint);
            if (id == null && HINT_IDS.size() < MAX_HINTS) {
                id = OspreyNative.intern(PREFIX + hint);
                HINT_IDS.put(hint, id);
            }
            if (id != null) {
                return id;
            }
        }
        return NAMES.get(innermost(task).getClass());
    }

    /** Releases the forks of tasks that became garbage without running. */
    private static void drain() {
        Pending p;
        while ((p = (Pending) GONE.poll()) != null) {
            PENDING.remove(p);
            OspreyNative.releaseFork(p.take());
        }
    }

    /** Forks not yet begun (or released), for {@link TasksTest}. */
    static int pending() {
        drain();
        return PENDING.size();
    }

    /**
     * Begins the worker's part of {@code cell} on this thread, parking a transaction it has open;
     * returns the parked transaction's id (0: none; -1: nothing was begun).
     */
    static long begin(long cell) {
        if (cell == 0L) {
            return -1L;
        }
        try {
            long parked = 0L;
            int rc = OspreyNative.beginFork(cell);
            if (rc == OspreyNative.ERR_ALREADY_ACTIVE) {
                parked = OspreyNative.detach();
                if (parked <= 0L) {
                    return -1L;
                }
                rc = OspreyNative.beginFork(cell);
                if (rc != OspreyNative.OK) {
                    OspreyNative.attach(parked);
                    return -1L;
                }
            } else if (rc != OspreyNative.OK) {
                return -1L;
            }
            ValueNames.attr(-1L, kThread, Thread.currentThread().getName());
            return parked;
        } catch (Throwable t) {
            return -1L;
        }
    }

    /** Ends the worker's part ({@code parked} from {@link #begin}) and restores the thread. */
    static void end(long parked, Throwable thrown) {
        if (parked < 0L) {
            return;
        }
        try {
            if (thrown != null) {
                Osprey.recordError(-1L, thrown);
            }
            OspreyNative.end();
            if (parked > 0L) {
                OspreyNative.attach(parked);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** Platform threads started inside a transaction whose {@code run()} has not begun: their task. */
    private static final ConcurrentHashMap<Thread, Task> STARTED = new ConcurrentHashMap<Thread, Task>();
    /** Most threads waiting in {@link #STARTED}. */
    private static final int MAX_STARTED = 4096;
    /** The run of a started thread's task, from {@link #threadRun} to {@link #threadRunExit}. */
    private static final ThreadLocal<Scope> THREAD_RUN = new ThreadLocal<Scope>();

    /**
     * Packages of thread targets that are libraries' long-lived loops, not the application's
     * work (an event loop or a client's I/O thread started lazily inside a request would carry
     * it forever), besides {@link #INFRASTRUCTURE}.
     */
    private static final String[] THREAD_INFRASTRUCTURE = {
        "java.", "javax.", "jakarta.", "io.netty.", "reactor.", "org.apache.", "org.eclipse.", "org.jboss.",
        "org.wildfly.", "io.lettuce.", "redis.clients.", "org.springframework.", "org.hibernate.",
        "org.postgresql.", "org.mariadb.", "com.mysql.", "okhttp3.", "okio.", "io.grpc.", "kotlinx.",
        "ch.qos.logback.", "com.google.", "io.micrometer.", "io.opentelemetry.", "com.fasterxml.",
    };

    /**
     * Entry of {@code Thread.start()}: inside a transaction, a plain {@code java.lang.Thread}
     * whose target is the application's {@code Runnable} (not a pool's worker, see {@link
     * #THREAD_INFRASTRUCTURE}), or a subclass of the application's own (an application class:
     * libraries' thread classes never carry a transaction) that overrides {@code run()} or has
     * such a target (with a library's target, such as a pool's worker made by the application's
     * thread factory, never), gets a fork of the transaction, begun when its {@code run()} starts
     * ({@link #threadRun}: {@code Thread.run}, or the subclass's own, see {@link
     * ThreadRunInstrumentation}). A fork whose {@code run()} never begins goes back when the thread
     * exits ({@link #threadExit}). 1 when one was made, else 0.
     */
    public static long threadStarting(Object thread) {
        if (!on || !Osprey.enabled || thread == null) {
            return 0L;
        }
        try {
            Class<?> type = thread.getClass();
            if ((type != Thread.class && library(type.getName())) || !OspreyNative.inTransaction()
                    || STARTED.size() >= MAX_STARTED) {
                return 0L;
            }
            Object target = threadTarget((Thread) thread);
            if (target instanceof Task || (target != null && library(innermost(target).getClass().getName()))) {
                return 0L; // a pool's worker or a library's loop, even in the application's subclass
            }
            Object named;
            if (type != Thread.class && OVERRIDES_RUN.get(type)) {
                named = thread; // its own run(): named after the subclass
            } else if (target instanceof Runnable) {
                named = target;
            } else {
                return 0L;
            }
            long cell = fork(named);
            if (cell == 0L) {
                return 0L;
            }
            Task task = new Task((Runnable) named, null, cell);
            if (STARTED.putIfAbsent((Thread) thread, task) != null) {
                return 0L; // started twice while pending: the new task's fork goes back once it is garbage
            }
            STARTING.set((Thread) thread);
            return 1L;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Whether a subclass of {@code Thread} overrides {@code run()}. */
    private static final ClassValue<Boolean> OVERRIDES_RUN = new ClassValue<Boolean>() {
        @Override
        protected Boolean computeValue(Class<?> type) {
            for (Class<?> c = type; c != null && c != Thread.class; c = c.getSuperclass()) {
                try {
                    c.getDeclaredMethod("run");
                    return true;
                } catch (NoSuchMethodException e) {
                    // its superclass, then
                } catch (Throwable t) {
                    return false;
                }
            }
            return false;
        }
    };

    /**
     * Entry of {@code Thread.exit()}, which the JVM calls as a thread ends: a fork still waiting
     * for the thread's {@code run()} (a subclass whose {@code run()} was not instrumented) goes
     * back.
     */
    public static void threadExit(Object thread) {
        if (STARTED.isEmpty()) {
            return;
        }
        try {
            release(STARTED.remove(thread));
        } catch (Throwable ignored) {
            // never into the JDK
        }
    }

    /** Gives back the fork of a thread's task that will never run (null: none). */
    private static void release(Task task) {
        if (task != null) {
            long cell = task.pending.take();
            PENDING.remove(task.pending);
            OspreyNative.releaseFork(cell);
        }
    }

    /**
     * The task of a virtual thread being created ({@code ThreadBuilders.newVirtualThread}, behind
     * {@code Thread.ofVirtual().start/unstarted}, {@code Thread.startVirtualThread} and a virtual
     * thread factory): inside a transaction, the application's {@code Runnable} (not a library's,
     * see {@link #THREAD_INFRASTRUCTURE}; a task an instrumented executor wrapped already stays
     * as it is) comes back as a {@link Task} carrying it, so the thread's run is a step of the
     * transaction or a linked child transaction. A thread never started gives its fork back once
     * its task is garbage.
     */
    public static Runnable wrapThread(Runnable task) {
        if (!on || !Osprey.enabled || task == null || task instanceof Task) {
            return task;
        }
        try {
            if (!OspreyNative.inTransaction() || library(innermost(task).getClass().getName())) {
                return task;
            }
            long cell = fork(task);
            return cell == 0L ? task : new Task(task, null, cell);
        } catch (Throwable t) {
            return task;
        }
    }

    /** Whether {@code className} is a library's, whose threads never carry a transaction. */
    public static boolean library(String className) {
        for (String p : THREAD_INFRASTRUCTURE) {
            if (className.startsWith(p)) {
                return true;
            }
        }
        return false;
    }

    /** The thread this thread is starting, between {@link #threadStarting} and its exit. */
    private static final ThreadLocal<Thread> STARTING = new ThreadLocal<Thread>();

    /** Normal exit of {@code Thread.start()}: the task waits for {@code run()}. */
    public static void threadStarted(long handle) {
        if (handle != 0L) {
            STARTING.remove();
        }
    }

    /** {@code Thread.start()} threw (the thread never runs): its fork goes back. The caller rethrows. */
    public static void threadStartFailed(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            Thread thread = STARTING.get();
            STARTING.remove();
            release(thread == null ? null : STARTED.remove(thread));
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * Entry of {@code Thread.run()} (the body of {@code java.lang.Thread}'s own, which runs the
     * target): on a thread {@link #threadStarting} gave a fork, begins its part. 1 when begun.
     */
    public static long threadRun(Object thread) {
        if (STARTED.isEmpty()) {
            return 0L;
        }
        try {
            if (thread != Thread.currentThread()) {
                return 0L;
            }
            Task task = STARTED.remove(thread);
            if (task == null) {
                return 0L;
            }
            THREAD_RUN.set(task.open());
            return 1L;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Normal exit of {@code Thread.run()}: the thread's part ends. */
    public static void threadRunExit(long handle) {
        threadRunError(null, handle);
    }

    /** {@code Thread.run()} ends, {@code thrown} (null: normally); the caller rethrows. */
    public static void threadRunError(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            Scope scope = THREAD_RUN.get();
            THREAD_RUN.remove();
            if (scope != null) {
                scope.close(thrown);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** The fields holding a thread's target: {@code target} (JDK 8 to 18), {@code holder.task} (19+). */
    private static volatile java.lang.reflect.Field[] targetFields;

    /** The {@code Runnable} a plain thread runs; null when it cannot be read. */
    static Object threadTarget(Thread thread) throws Exception {
        java.lang.reflect.Field[] f = targetFields;
        if (f == null) {
            try {
                java.lang.reflect.Field target = Thread.class.getDeclaredField("target");
                target.setAccessible(true);
                f = new java.lang.reflect.Field[] {target};
            } catch (NoSuchFieldException jdk19) {
                java.lang.reflect.Field holder = Thread.class.getDeclaredField("holder");
                holder.setAccessible(true);
                java.lang.reflect.Field task = holder.getType().getDeclaredField("task");
                task.setAccessible(true);
                f = new java.lang.reflect.Field[] {holder, task};
            }
            targetFields = f;
        }
        Object o = thread;
        for (java.lang.reflect.Field field : f) {
            o = o == null ? null : field.get(o);
        }
        return o;
    }

    /** Transactions of virtual threads that unmounted with one open: the thread, the parked id. */
    private static final ConcurrentHashMap<Object, Long> UNMOUNTED = new ConcurrentHashMap<Object, Long>();
    /**
     * Mounted virtual threads whose carrier had a transaction of its own when they mounted: the
     * thread, the carrier's parked id, given back to the carrier at unmount.
     */
    private static final ConcurrentHashMap<Object, Long> CARRIERS = new ConcurrentHashMap<Object, Long>();

    /**
     * Entry of {@code VirtualThread.unmount()}, on the carrier: the recorder keeps a transaction
     * per carrier (OS) thread, so a transaction open on the virtual thread (with its open steps)
     * is parked in the virtual thread's slot until it mounts again, maybe on another carrier
     * ({@link #mounted}); the carrier gets back what it had when the virtual thread mounted. A
     * transaction that cannot be parked (the core's bound on parked transactions is reached)
     * ends here rather than stay on the carrier. Without a transaction: one native call
     * reading a thread-local.
     */
    public static void unmounting(Object virtualThread) {
        if (!on) {
            return;
        }
        try {
            Long carrier = CARRIERS.isEmpty() ? null : CARRIERS.remove(virtualThread);
            if (OspreyNative.inTransaction()) {
                long id = OspreyNative.detach();
                if (id > 0L) {
                    UNMOUNTED.put(virtualThread, id);
                } else {
                    OspreyNative.end();
                }
            }
            if (carrier != null) {
                OspreyNative.attach(carrier);
            }
        } catch (Throwable ignored) {
            // never into the JDK
        }
    }

    /**
     * Exit of {@code VirtualThread.mount()}, on the carrier: the virtual thread's parked
     * transaction is this carrier's again. A transaction the carrier had open (none in the JDK's
     * scheduler, whose carriers run nothing else) is parked until the virtual thread unmounts, so
     * it never leaks into the virtual thread nor is lost.
     */
    public static void mounted(Object virtualThread) {
        if (!on) {
            return;
        }
        try {
            Long id = UNMOUNTED.isEmpty() ? null : UNMOUNTED.remove(virtualThread);
            long carrier;
            if (id != null) {
                carrier = OspreyNative.attach(id);
            } else {
                carrier = OspreyNative.inTransaction() ? OspreyNative.detach() : 0L;
            }
            if (carrier > 0L) {
                CARRIERS.put(virtualThread, carrier);
            }
        } catch (Throwable ignored) {
            // never into the JDK
        }
    }

    /** This thread's flag of {@link #IN_DELAYED}; null if it cannot be had. */
    static boolean[] delayedFlag() {
        try {
            return IN_DELAYED.get();
        } catch (Throwable t) {
            return null;
        }
    }

    /** A task carrying a fork of the transaction that submitted it. */
    public static final class Task implements Runnable, Callable<Object> {
        private final Runnable runnable;
        private final Callable<?> callable;
        private final Pending pending;
        private final TraceContext context;
        private final boolean delayed;

        Task(Runnable runnable, Callable<?> callable, long cell) {
            this(runnable, callable, cell, false);
        }

        Task(Runnable runnable, Callable<?> callable, long cell, boolean delayed) {
            this.runnable = runnable;
            this.callable = callable;
            this.delayed = delayed;
            this.context = TraceContext.current();
            this.pending = new Pending(this, cell);
            PENDING.add(pending);
        }

        /** The task it wraps. */
        public Object unwrap() {
            return runnable != null ? runnable : callable;
        }

        /** Begins the worker's part (once), with the submitter's trace context on this thread. */
        private Scope open() {
            Scope scope = new Scope();
            try {
                long cell = pending.take();
                PENDING.remove(pending);
                pending.clear();
                scope.parked = begin(cell);
                OspreyNative.releaseFork(cell);
                if (scope.parked >= 0L) {
                    scope.previous = TraceContext.current();
                    TraceContext.set(context);
                }
            } catch (Throwable ignored) {
                // run it plainly
            }
            return scope;
        }

        @Override
        public void run() {
            try {
                call();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                // Only a wrapped Callable throws checked exceptions, and it is called, not run.
                throw new java.util.concurrent.CompletionException(e);
            }
        }

        @Override
        public Object call() throws Exception {
            Scope scope = open();
            Throwable thrown = null;
            boolean[] inDelayed = delayed ? delayedFlag() : null;
            boolean wasDelayed = inDelayed != null && inDelayed[0];
            if (inDelayed != null) {
                inDelayed[0] = true;
            }
            try {
                if (runnable != null) {
                    runnable.run();
                    return null;
                }
                return callable.call();
            } catch (Exception | Error e) {
                thrown = e;
                throw e;
            } finally {
                if (inDelayed != null) {
                    inDelayed[0] = wasDelayed;
                }
                scope.close(thrown);
            }
        }

        @Override
        public String toString() {
            return String.valueOf(unwrap());
        }
    }

    /** One run of a task: the parked transaction's id (-1: nothing begun) and the context it replaced. */
    static final class Scope {
        long parked = -1L;
        TraceContext previous;

        /** Ends the worker's part and restores the thread. */
        void close(Throwable thrown) {
            if (parked < 0L) {
                return;
            }
            end(parked, thrown);
            try {
                TraceContext.set(previous);
            } catch (Throwable ignored) {
                // never into the application
            }
        }
    }

    /** A task's fork until it runs; enqueued when the task became garbage first. */
    static final class Pending extends PhantomReference<Task> {
        private final AtomicLong cell;

        Pending(Task task, long cell) {
            super(task, GONE);
            this.cell = new AtomicLong(cell);
        }

        /** The fork, once (0 afterwards). */
        long take() {
            return cell.getAndSet(0L);
        }
    }
}
