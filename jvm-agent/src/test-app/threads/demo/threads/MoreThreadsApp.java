package demo.threads;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * More work on other threads inside transactions (each {@code request*} method is one under the
 * agent's {@code hook.transactions}; {@code work}, {@code nap} and {@code io} are hooked methods):
 * on JDK 21+, {@link #VIRTUALS} virtual threads each running a transaction of its own, then
 * {@link #VIRTUALS} virtual-thread tasks of one transaction, each blocking (unmounting) many
 * times between and inside steps (run it with two carriers); virtual threads started directly
 * ({@code Thread.ofVirtual().start}, {@code Thread.startVirtualThread}); {@code
 * CompletableFuture.delayedExecutor}; application subclasses of {@code Thread} ({@link Workers});
 * and, last, the same kinds of work outside any transaction. Prints one line per request; on
 * stderr how many times a virtual thread continued on another carrier than the one it began on.
 */
public final class MoreThreadsApp {
    /** Virtual threads per request. */
    static final int VIRTUALS = 50;
    /** Rounds of steps and blocking per virtual thread. */
    static final int ROUNDS = 5;

    private static final AtomicInteger SWITCHES = new AtomicInteger();
    private static int echoPort;

    private MoreThreadsApp() {}

    public static void main(String[] args) throws Exception {
        echoPort = startEcho();
        boolean virtual = hasVirtualThreads();
        if (virtual) {
            System.out.println("virtual own " + virtualOwn());
            ExecutorService perTask = (ExecutorService) Executors.class
                    .getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
            System.out.println(requestVirtualTasks(perTask));
            perTask.shutdown();
            System.out.println(requestStartVirtual());
        } else {
            System.out.println("virtual own " + VIRTUALS);
            System.out.println("virtual tasks " + VIRTUALS);
            System.out.println("start virtual vs");
        }
        ExecutorService pool = Executors.newFixedThreadPool(1, r -> new Thread(r, "delayed-pool"));
        System.out.println(requestDelayed(pool));
        ExecutorService subclassPool = Executors.newFixedThreadPool(1,
                r -> new Workers.PoolThread(r, "app-subclass-pool"));
        System.out.println(requestSubclass(subclassPool));
        // Outside any transaction: nothing is recorded.
        List<Thread> plain = new ArrayList<Thread>();
        plain.add(new Workers.Worker("plain-worker"));
        if (virtual) {
            plain.add(startVirtual(MoreThreadsApp::untraced));
        }
        for (Thread t : plain) {
            if (!t.isAlive() && t.getState() == Thread.State.NEW) {
                t.start();
            }
            t.join();
        }
        CompletableFuture.runAsync(MoreThreadsApp::untraced,
                CompletableFuture.delayedExecutor(10, TimeUnit.MILLISECONDS, pool)).join();
        subclassPool.submit(MoreThreadsApp::untraced).get();
        subclassPool.shutdown();
        pool.shutdown();
        System.out.println("untraced done");
        System.err.println("carrier-switches " + SWITCHES.get());
    }

    /** {@link #VIRTUALS} virtual threads, each running {@link #requestOnVirtual}; the sum of their results. */
    static int virtualOwn() throws Exception {
        List<Thread> threads = new ArrayList<Thread>();
        final int[] results = new int[VIRTUALS];
        for (int i = 0; i < VIRTUALS; i++) {
            final int n = i;
            threads.add(startVirtual(() -> {
                try {
                    results[n] = requestOnVirtual(n);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        int sum = 0;
        for (int i = 0; i < VIRTUALS; i++) {
            threads.get(i).join();
            sum += results[i];
        }
        return sum;
    }

    /** A transaction of its own on a virtual thread, blocking between and inside its steps. */
    public static int requestOnVirtual(int n) throws Exception {
        return rounds();
    }

    /** {@link #VIRTUALS} tasks on virtual threads, each blocking between and inside its steps. */
    public static String requestVirtualTasks(ExecutorService perTask) throws Exception {
        List<Future<Integer>> futures = new ArrayList<Future<Integer>>();
        for (int i = 0; i < VIRTUALS; i++) {
            futures.add(perTask.submit(() -> rounds()));
        }
        int sum = 0;
        for (Future<Integer> f : futures) {
            sum += f.get();
        }
        return "virtual tasks " + sum;
    }

    /** {@link #ROUNDS} rounds of: a step, a step that sleeps, a step of blocking I/O. 1. */
    static int rounds() throws Exception {
        String began = carrier();
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), echoPort)) {
            for (int i = 0; i < ROUNDS; i++) {
                work("r");
                nap();
                io(socket);
            }
        }
        if (!began.equals(carrier())) {
            SWITCHES.incrementAndGet();
        }
        return 1;
    }

    /** The carrier thread of the current virtual thread, from its {@code toString}. */
    static String carrier() {
        String s = Thread.currentThread().toString();
        return s.substring(s.lastIndexOf('@') + 1);
    }

    /** Virtual threads started directly: {@code Thread.ofVirtual().name(..).start} and {@code Thread.startVirtualThread}. */
    public static String requestStartVirtual() throws Exception {
        final String[] out = new String[2];
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
        builder = ofVirtual.getMethod("name", String.class).invoke(builder, "vt-started");
        Thread a = (Thread) Class.forName("java.lang.Thread$Builder").getMethod("start", Runnable.class)
                .invoke(builder, (Runnable) () -> out[0] = work("v"));
        Thread b = startVirtual(() -> out[1] = work("s"));
        a.join();
        b.join();
        return "start virtual " + out[0] + out[1];
    }

    /**
     * {@code CompletableFuture} stages on delayed executors (the default pool's and a pool's) and,
     * JDK 25+, a task for later on the common pool ({@code ForkJoinPool.schedule}).
     */
    public static String requestDelayed(ExecutorService pool) {
        CompletableFuture<String> a = CompletableFuture.supplyAsync(() -> work("a"),
                CompletableFuture.delayedExecutor(20, TimeUnit.MILLISECONDS));
        CompletableFuture<String> b = CompletableFuture.supplyAsync(() -> work("b"),
                CompletableFuture.delayedExecutor(20, TimeUnit.MILLISECONDS, pool));
        String c = "c";
        Object common = java.util.concurrent.ForkJoinPool.commonPool();
        if (common instanceof java.util.concurrent.ScheduledExecutorService) { // JDK 25+
            try {
                c = ((java.util.concurrent.ScheduledExecutorService) common)
                        .schedule(() -> work("c"), 20, TimeUnit.MILLISECONDS).get();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        return "delayed " + a.join() + b.join() + c;
    }

    /**
     * Application subclasses of Thread, started and joined; a task on a pool whose worker thread
     * (of the application's subclass) starts here.
     */
    public static String requestSubclass(ExecutorService subclassPool) throws Exception {
        subclassPool.submit(() -> work("pool")).get();
        Thread[] threads = {
            new Workers.Worker("app-worker"), new Workers.DeepWorker("app-deep"), Workers.anonymous("app-anon"),
            new Workers.Hooked("app-hooked"),
        };
        for (Thread t : threads) {
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        return "subclass " + threads.length;
    }

    /** A hooked method: a step wherever it runs inside a transaction. */
    public static String work(String what) {
        long x = 0;
        for (int i = 0; i < 10000; i++) {
            x += i ^ what.hashCode();
        }
        return x == 42 ? "?" : what;
    }

    /** A hooked step open while its thread sleeps (a virtual thread unmounts), with a step inside after. */
    public static void nap() throws InterruptedException {
        Thread.sleep(2);
        work("n");
    }

    /** A hooked step open while its thread blocks on a socket read. */
    public static void io(Socket socket) throws Exception {
        OutputStream out = socket.getOutputStream();
        InputStream in = socket.getInputStream();
        out.write(7);
        out.flush();
        if (in.read() != 7) {
            throw new IllegalStateException("echo");
        }
    }

    /** A hooked method run outside any transaction. */
    public static String untraced() {
        return work("outside");
    }

    private static boolean hasVirtualThreads() {
        try {
            Thread.class.getMethod("ofVirtual");
            return true;
        } catch (NoSuchMethodException before21) {
            return false;
        }
    }

    /** {@code Thread.startVirtualThread(task)} (JDK 21+). */
    static Thread startVirtual(Runnable task) throws Exception {
        Method start = Thread.class.getMethod("startVirtualThread", Runnable.class);
        return (Thread) start.invoke(null, task);
    }

    /** A loopback server (platform threads) answering each byte it reads with the same byte. */
    private static int startEcho() throws Exception {
        final ServerSocket server = new ServerSocket(0, 100, InetAddress.getLoopbackAddress());
        final ConcurrentHashMap<Socket, Boolean> open = new ConcurrentHashMap<Socket, Boolean>();
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    final Socket s = server.accept();
                    open.put(s, true);
                    Thread echo = new Thread(() -> {
                        try (Socket c = s) {
                            int b;
                            while ((b = c.getInputStream().read()) >= 0) {
                                c.getOutputStream().write(b);
                                c.getOutputStream().flush();
                            }
                        } catch (Exception ignored) {
                            // the client closed
                        }
                    }, "echo");
                    echo.setDaemon(true);
                    echo.start();
                } catch (Exception e) {
                    return;
                }
            }
        }, "echo-acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
        return server.getLocalPort();
    }
}
