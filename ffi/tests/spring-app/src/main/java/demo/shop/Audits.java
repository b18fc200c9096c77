package demo.shop;

import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.annotation.Async;
import org.springframework.stereotype.Service;

/** An {@code @Async} service: runs on Boot's task executor (virtual threads when enabled). */
@Service
public class Audits {
    private static final Logger LOG = LoggerFactory.getLogger(Audits.class);

    /** Audits an order on another thread. */
    @Async
    public CompletableFuture<String> audit(long id) {
        LOG.info("auditing order {}", id);
        return CompletableFuture.completedFuture("audited " + id);
    }
}
