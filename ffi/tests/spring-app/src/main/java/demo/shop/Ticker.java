package demo.shop;

import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/** A {@code @Scheduled} method counting the orders now and then. */
@Component
public class Ticker {
    private static final Logger LOG = LoggerFactory.getLogger(Ticker.class);
    private final OrderRepository orders;
    private final AtomicInteger ticks = new AtomicInteger();

    public Ticker(OrderRepository orders) {
        this.orders = orders;
    }

    @Scheduled(initialDelay = 200, fixedDelayString = "${shop.tick-ms:500}")
    public void tick() {
        long n = orders.count();
        LOG.info("tick {} orders {}", ticks.incrementAndGet(), n);
    }
}
