package demo.jobs;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.quartz.Job;
import org.quartz.JobBuilder;
import org.quartz.JobExecutionContext;
import org.quartz.Scheduler;
import org.quartz.SimpleScheduleBuilder;
import org.quartz.TriggerBuilder;
import org.quartz.impl.StdSchedulerFactory;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.scheduling.annotation.Scheduled;

/**
 * Work started by schedulers, not by requests: a Spring {@code @Scheduled} method and a Quartz
 * job, each run three times (the third Spring run throws). Under the agent each run is a
 * transaction of its own with the {@code work} method as its step ({@code hook.methods}); no
 * {@code hook.transactions} is needed. Prints the same lines with and without the agent.
 */
public final class JobsApp {
    static final CountDownLatch SPRING_RUNS = new CountDownLatch(3);
    static final CountDownLatch QUARTZ_RUNS = new CountDownLatch(3);
    static final AtomicInteger SPRING_COUNT = new AtomicInteger();

    private JobsApp() {}

    public static void main(String[] args) throws Exception {
        try (AnnotationConfigApplicationContext ctx = new AnnotationConfigApplicationContext(Config.class)) {
            System.out.println("spring " + SPRING_RUNS.await(30, TimeUnit.SECONDS));
        }
        java.util.Properties p = new java.util.Properties();
        p.put("org.quartz.scheduler.instanceName", "jobs");
        p.put("org.quartz.threadPool.threadCount", "1");
        p.put("org.quartz.jobStore.class", "org.quartz.simpl.RAMJobStore");
        p.put("org.quartz.scheduler.skipUpdateCheck", "true");
        Scheduler scheduler = new StdSchedulerFactory(p).getScheduler();
        scheduler.scheduleJob(JobBuilder.newJob(CleanupJob.class).withIdentity("cleanup-42").build(),
                TriggerBuilder.newTrigger().startNow().withSchedule(
                        SimpleScheduleBuilder.simpleSchedule().withIntervalInMilliseconds(50).withRepeatCount(2))
                        .build());
        scheduler.start();
        System.out.println("quartz " + QUARTZ_RUNS.await(30, TimeUnit.SECONDS));
        scheduler.shutdown(true);
    }

    /** The work both schedulers do: a step under the agent. */
    public static int work(String who) {
        return who.length();
    }

    /** Spring's configuration: scheduling on, one scheduled bean. */
    @Configuration
    @EnableScheduling
    public static class Config {
        @Bean
        public Reports reports() {
            return new Reports();
        }
    }

    /** A bean with a {@code @Scheduled} method. */
    public static class Reports {
        @Scheduled(fixedDelay = 50)
        public void refresh() {
            if (SPRING_RUNS.getCount() == 0) {
                return; // runs after the third, until the context closes: no work
            }
            work("spring");
            int n = SPRING_COUNT.incrementAndGet();
            SPRING_RUNS.countDown();
            if (n == 3) {
                throw new IllegalStateException("third refresh fails");
            }
        }
    }

    /** A Quartz job. */
    public static class CleanupJob implements Job {
        @Override
        public void execute(JobExecutionContext context) {
            work("quartz");
            QUARTZ_RUNS.countDown();
        }
    }
}
