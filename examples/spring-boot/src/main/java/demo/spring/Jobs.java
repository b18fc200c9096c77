package demo.spring;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.scheduling.annotation.Async;
import org.springframework.scheduling.annotation.EnableAsync;
import org.springframework.stereotype.Service;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * Work handed to other threads, with log lines along the way: {@code /jobs/async/{id}} runs an
 * {@code @Async} method on Spring's {@code SimpleAsyncTaskExecutor} (Boot's own task executor backs
 * off since the application defines an executor) and waits for it;
 * {@code /jobs/pool/{n}} submits {@code n} tasks to an executor of its own ({@code jobs-N}
 * threads) plus a {@code CompletableFuture} stage on it, and waits. With the agent each line
 * carries the transaction's trace id and the span id of the step it was logged in
 * ({@code logging.pattern.correlation} in application.properties).
 */
@Configuration
@EnableAsync
public class Jobs {
    private static final Logger LOG = LoggerFactory.getLogger(Jobs.class);

    /** The pool {@code /jobs/pool} submits to. */
    @Bean(destroyMethod = "shutdown")
    @Qualifier("jobs")
    public ExecutorService jobsPool() {
        AtomicInteger n = new AtomicInteger();
        return Executors.newFixedThreadPool(2, r -> new Thread(r, "jobs-" + n.incrementAndGet()));
    }

    /** An {@code @Async} service. */
    @Service
    public static class Reports {
        /** Builds a report on another thread. */
        @Async
        public CompletableFuture<String> build(long id) {
            LOG.info("building report {}", id);
            return CompletableFuture.completedFuture("report " + id);
        }
    }

    /** The endpoints. */
    @RestController
    public static class JobsController {
        private final Reports reports;
        private final ExecutorService pool;

        public JobsController(Reports reports, @Qualifier("jobs") ExecutorService pool) {
            this.reports = reports;
            this.pool = pool;
        }

        @GetMapping("/jobs/async/{id}")
        public String async(@PathVariable("id") long id) {
            LOG.info("asking for report {}", id);
            return reports.build(id).join();
        }

        @GetMapping("/jobs/pool/{n}")
        public String pool(@PathVariable("n") int n) throws Exception {
            LOG.info("submitting {} jobs", n);
            StringBuilder out = new StringBuilder("jobs");
            Future<?>[] futures = new Future<?>[n];
            for (int i = 0; i < n; i++) {
                final int job = i;
                Callable<String> task = () -> {
                    LOG.info("running job {}", job);
                    return " " + job;
                };
                futures[i] = pool.submit(task);
            }
            for (Future<?> f : futures) {
                out.append(f.get());
            }
            String staged = CompletableFuture.supplyAsync(() -> {
                LOG.info("running stage");
                return " staged";
            }, pool).join();
            return out.append(staged).toString();
        }
    }
}
