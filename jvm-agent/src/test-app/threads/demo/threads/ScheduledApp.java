package demo.threads;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Work scheduled and threads started inside transactions (each {@code request*} method is one
 * under the agent's {@code hook.transactions}; {@code work}, {@code tick} and {@code hop} are
 * hooked methods): delayed tasks that run after their request ended, periodic tasks, a task that
 * schedules itself again, {@code new Thread(r).start()} joined and outliving its request, and a
 * pool whose worker thread is started inside a request then used outside any. Prints one line
 * per request.
 */
public final class ScheduledApp {
    private ScheduledApp() {}

    public static void main(String[] args) throws Exception {
        ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(1, r -> new Thread(r, "app-scheduler"));
        CountDownLatch delayed = new CountDownLatch(1);
        ScheduledFuture<String> later = requestDelayed(scheduler, delayed);
        System.out.println("delayed " + later.get(30, TimeUnit.SECONDS) + " " + delayed.await(30, TimeUnit.SECONDS));

        CountDownLatch ticks = new CountDownLatch(6);
        ScheduledFuture<?>[] periodic = requestPeriodic(scheduler, ticks);
        System.out.println("periodic " + ticks.await(30, TimeUnit.SECONDS));
        for (ScheduledFuture<?> f : periodic) {
            f.cancel(false);
        }

        CountDownLatch hops = new CountDownLatch(3);
        requestChain(scheduler, hops);
        System.out.println("chain " + hops.await(30, TimeUnit.SECONDS));
        scheduler.shutdown();
        scheduler.awaitTermination(30, TimeUnit.SECONDS);

        System.out.println(requestThread());
        CountDownLatch release = new CountDownLatch(1);
        Thread late = requestThreadLate(release);
        // Lets the request's transaction be taken up before the thread goes on: it outlives it.
        Thread.sleep(1000);
        release.countDown();
        late.join(30000);
        System.out.println("thread late " + !late.isAlive());

        ExecutorService[] lazy = new ExecutorService[1];
        System.out.println(requestLazyPool(lazy));
        // The worker thread started inside the request, now outside any transaction.
        System.out.println("lazy outside " + lazy[0].submit(() -> untraced()).get());
        lazy[0].shutdown();
        lazy[0].awaitTermination(30, TimeUnit.SECONDS);
    }

    /** A delayed Runnable and a delayed Callable, both running after the request ended. */
    public static ScheduledFuture<String> requestDelayed(ScheduledExecutorService scheduler, CountDownLatch done) {
        scheduler.schedule(() -> {
            work("delayed");
            done.countDown();
        }, 1000, TimeUnit.MILLISECONDS);
        return scheduler.schedule(() -> work("later"), 1000, TimeUnit.MILLISECONDS);
    }

    /** Periodic tasks at a fixed rate and with a fixed delay: not part of the request. */
    public static ScheduledFuture<?>[] requestPeriodic(ScheduledExecutorService scheduler, CountDownLatch ticks) {
        return new ScheduledFuture<?>[] {
            scheduler.scheduleAtFixedRate(() -> {
                tick();
                ticks.countDown();
            }, 0, 20, TimeUnit.MILLISECONDS),
            scheduler.scheduleWithFixedDelay(() -> {
                tick();
                ticks.countDown();
            }, 0, 20, TimeUnit.MILLISECONDS),
        };
    }

    /** A task that schedules itself again until it ran three times. */
    public static void requestChain(ScheduledExecutorService scheduler, CountDownLatch hops) {
        scheduler.schedule(new Hop(scheduler, hops), 50, TimeUnit.MILLISECONDS);
    }

    /** A self-rescheduling task. */
    static final class Hop implements Runnable {
        private final ScheduledExecutorService scheduler;
        private final CountDownLatch hops;

        Hop(ScheduledExecutorService scheduler, CountDownLatch hops) {
            this.scheduler = scheduler;
            this.hops = hops;
        }

        @Override
        public void run() {
            hop();
            hops.countDown();
            if (hops.getCount() > 0) {
                scheduler.schedule(this, 50, TimeUnit.MILLISECONDS);
            }
        }
    }

    /** A thread started and joined inside the request. */
    public static String requestThread() throws InterruptedException {
        String[] out = new String[1];
        Thread t = new Thread(() -> out[0] = work("thread"), "app-thread");
        t.start();
        t.join();
        return "thread " + out[0];
    }

    /** A thread still running when the request ends. */
    public static Thread requestThreadLate(CountDownLatch release) {
        Thread t = new Thread(() -> {
            try {
                release.await(30, TimeUnit.SECONDS);
                work("thread-late");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "app-thread-late");
        t.start();
        return t;
    }

    /** A pool created inside the request: its worker thread starts here. */
    public static String requestLazyPool(ExecutorService[] pool) throws Exception {
        pool[0] = Executors.newSingleThreadExecutor(r -> new Thread(r, "lazy-pool"));
        return "lazy " + pool[0].submit(() -> work("lazy")).get();
    }

    /** A hooked method: a step wherever it runs inside a transaction. */
    public static String work(String what) {
        long x = 0;
        for (int i = 0; i < 10000; i++) {
            x += i ^ what.hashCode();
        }
        return x == 42 ? "?" : what;
    }

    /** A hooked method run by the periodic tasks. */
    public static String tick() {
        return work("tick");
    }

    /** A hooked method run by each hop of the self-rescheduling task. */
    public static String hop() {
        return work("hop");
    }

    /** A hooked method run outside any transaction. */
    public static String untraced() {
        return work("outside");
    }
}
