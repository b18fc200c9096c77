package demo.threads;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Work handed to other threads inside transactions (each {@code request*} method is one under the
 * agent's {@code hook.transactions}; {@code work} and {@code untraced} are hooked methods): a
 * fixed thread pool, {@code CompletableFuture} stages on the default pool and on the pool, a task
 * that outlives its request, virtual threads (JDK 21+) and, last, work on the same pooled threads
 * outside any transaction. Prints one line per request.
 */
public final class ThreadsApp {
    private ThreadsApp() {}

    public static void main(String[] args) throws Exception {
        final AtomicInteger n = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(2, new ThreadFactory() {
            @Override
            public Thread newThread(Runnable r) {
                return new Thread(r, "app-pool-" + n.incrementAndGet());
            }
        });
        System.out.println(requestPool(pool));
        System.out.println(requestFuture(pool));
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        System.out.println(requestLate(pool, release, done));
        // Lets the request's transaction be taken up (the agent's collector polls every 20 ms)
        // before its task goes on: the task then outlives it.
        Thread.sleep(1000);
        release.countDown();
        done.await(30, TimeUnit.SECONDS);
        ExecutorService virtual = virtualThreads();
        if (virtual != null) {
            System.out.println(requestVirtual(virtual));
            virtual.shutdown();
        } else {
            System.out.println("virtual 4");
        }
        // The same pooled threads, outside any transaction: nothing is recorded.
        List<Future<?>> plain = new ArrayList<Future<?>>();
        for (int i = 0; i < 4; i++) {
            plain.add(pool.submit(() -> untraced()));
        }
        for (Future<?> f : plain) {
            f.get();
        }
        pool.shutdown();
        pool.awaitTermination(30, TimeUnit.SECONDS);
        System.out.println("untraced " + plain.size());
    }

    /** Two tasks on the pool, waited for. */
    public static String requestPool(ExecutorService pool) throws Exception {
        Future<String> a = pool.submit(() -> work("a"));
        Future<String> b = pool.submit(() -> work("b"));
        return "pool " + a.get() + b.get();
    }

    /** A stage on the default async pool, then one on the pool. */
    public static String requestFuture(ExecutorService pool) {
        return "future " + CompletableFuture.supplyAsync(() -> work("c"))
                .thenApplyAsync(s -> s + work("d"), pool)
                .join();
    }

    /** A task still running when the request ends. */
    public static String requestLate(ExecutorService pool, final CountDownLatch release, final CountDownLatch done) {
        pool.execute(() -> {
            try {
                release.await(30, TimeUnit.SECONDS);
                work("late");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                done.countDown();
            }
        });
        return "late submitted";
    }

    /** Two tasks on virtual threads, each blocking (unmounting) between two steps. */
    public static String requestVirtual(ExecutorService virtual) throws Exception {
        Future<String> a = virtual.submit(() -> work("v") + pause() + work("v"));
        Future<String> b = virtual.submit(() -> work("w") + pause() + work("w"));
        return "virtual " + (a.get() + b.get()).length();
    }

    /** Blocks: a virtual thread unmounts from its carrier here. */
    static String pause() throws InterruptedException {
        Thread.sleep(50);
        return "";
    }

    /** A hooked method: a step wherever it runs inside a transaction. */
    public static String work(String what) {
        long x = 0;
        for (int i = 0; i < 10000; i++) {
            x += i ^ what.hashCode();
        }
        return x == 42 ? "?" : what;
    }

    /** A hooked method run outside any transaction. */
    public static String untraced() {
        return work("outside");
    }

    /** {@code Executors.newThreadPerTaskExecutor} of named virtual threads (JDK 21+), else null. */
    static ExecutorService virtualThreads() throws Exception {
        Method ofVirtual;
        try {
            ofVirtual = Thread.class.getMethod("ofVirtual");
        } catch (NoSuchMethodException before21) {
            return null;
        }
        Object builder = ofVirtual.invoke(null);
        Class<?> ofVirtualType = Class.forName("java.lang.Thread$Builder$OfVirtual");
        builder = ofVirtualType.getMethod("name", String.class, long.class).invoke(builder, "vt-", 1L);
        Object factory = Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
        return (ExecutorService) Executors.class.getMethod("newThreadPerTaskExecutor", ThreadFactory.class)
                .invoke(null, factory);
    }
}
