package demo.shop;

import jakarta.annotation.PreDestroy;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.data.redis.core.StringRedisTemplate;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.client.RestClient;

/**
 * {@code GET /buy/{item}?note=..&access_token=..}: saves the order (JPA), keeps the note in Redis,
 * asks the other instance for the stock ({@code RestClient}, forwarding the token), audits the
 * order {@code @Async}, prices it on a pool of its own, publishes it to Kafka and counts the other
 * orders (a native query); {@code GET /orders/{id}} reads one back.
 */
@RestController
public class ShopController {
    private static final Logger LOG = LoggerFactory.getLogger(ShopController.class);
    private static final AtomicInteger THREADS = new AtomicInteger();
    private final ExecutorService pool =
            Executors.newFixedThreadPool(2, r -> new Thread(r, "pricing-" + THREADS.incrementAndGet()));
    private final Shop shop;
    private final OrderRepository orders;
    private final StringRedisTemplate redis;
    private final RestClient backend;
    private final Audits audits;
    private final KafkaTemplate<String, String> kafka;
    private final String topic;

    public ShopController(Shop shop, OrderRepository orders, StringRedisTemplate redis, RestClient backend,
            Audits audits, KafkaTemplate<String, String> kafka, @Value("${shop.topic:orders}") String topic) {
        this.shop = shop;
        this.orders = orders;
        this.redis = redis;
        this.backend = backend;
        this.audits = audits;
        this.kafka = kafka;
        this.topic = topic;
    }

    @GetMapping("/buy/{item}")
    public String buy(@PathVariable("item") String item, @RequestParam("note") String note,
            @RequestParam("access_token") String token) throws Exception {
        LOG.info("buying {}", item);
        Order order = shop.place(item, note);
        redis.opsForValue().set("cart:" + item, note);
        boolean kept = note.equals(redis.opsForValue().get("cart:" + item));
        String stock = backend.get()
                .uri("/stock/{item}?access_token={token}", item, token)
                .retrieve()
                .body(String.class);
        String audit = audits.audit(order.getId()).join();
        Future<String> price = pool.submit(() -> {
            LOG.info("pricing {}", item);
            return "price " + item.length();
        });
        String priced = price.get();
        kafka.send(topic, item, note).get();
        long others = orders.countOthers();
        return "bought " + item + " #" + order.getId() + ", " + stock + ", " + audit + ", " + priced
                + ", cart " + kept + ", others " + others;
    }

    @GetMapping("/orders/{id}")
    public String order(@PathVariable("id") long id) {
        return orders.findById(id).map(o -> "order " + o.getId() + " " + o.getItem()).orElse("none");
    }

    @PreDestroy
    public void close() {
        pool.shutdown();
    }
}
