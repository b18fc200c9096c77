package demo.threads;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.scheduling.support.PeriodicTrigger;

/**
 * Spring's {@code TaskScheduler} inside transactions (each {@code request*} method is one under
 * the agent's {@code hook.transactions}; {@code work} and {@code tick} are hooked methods): a
 * task scheduled for later, which runs after its request ended, then periodic tasks at a fixed
 * rate and by a {@code Trigger}. Prints one line per request.
 */
public final class SpringSchedulerApp {
    private SpringSchedulerApp() {}

    public static void main(String[] args) throws Exception {
        ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();
        scheduler.setThreadNamePrefix("spring-scheduler-");
        scheduler.initialize();
        CountDownLatch later = new CountDownLatch(1);
        requestLater(scheduler, later);
        System.out.println("later " + later.await(30, TimeUnit.SECONDS));
        CountDownLatch ticks = new CountDownLatch(6);
        ScheduledFuture<?>[] periodic = requestPeriodic(scheduler, ticks);
        System.out.println("periodic " + ticks.await(30, TimeUnit.SECONDS));
        for (ScheduledFuture<?> f : periodic) {
            f.cancel(false);
        }
        scheduler.shutdown();
    }

    /** A task for one second from now: it runs after the request ended. */
    public static void requestLater(ThreadPoolTaskScheduler scheduler, CountDownLatch done) {
        scheduler.schedule(() -> {
            work("later");
            done.countDown();
        }, Instant.now().plusMillis(1000));
    }

    /** At a fixed rate, and by a trigger (Spring reschedules each run itself). */
    public static ScheduledFuture<?>[] requestPeriodic(ThreadPoolTaskScheduler scheduler, CountDownLatch ticks) {
        Runnable tick = () -> {
            tick();
            ticks.countDown();
        };
        return new ScheduledFuture<?>[] {
            scheduler.scheduleAtFixedRate(tick, Duration.ofMillis(20)),
            scheduler.schedule(tick, new PeriodicTrigger(Duration.ofMillis(20))),
        };
    }

    /** A hooked method: a step wherever it runs inside a transaction. */
    public static String work(String what) {
        return what.toUpperCase();
    }

    /** A hooked method run by the periodic tasks. */
    public static String tick() {
        return work("tick");
    }
}
