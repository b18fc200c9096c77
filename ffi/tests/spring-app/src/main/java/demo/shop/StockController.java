package demo.shop;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.data.redis.core.StringRedisTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/** What the second instance answers: the stock of an item, kept in Redis. */
@RestController
public class StockController {
    private static final Logger LOG = LoggerFactory.getLogger(StockController.class);
    private final StringRedisTemplate redis;

    public StockController(StringRedisTemplate redis) {
        this.redis = redis;
    }

    @GetMapping("/stock/{item}")
    public String stock(@PathVariable("item") String item) {
        LOG.info("stock of {}", item);
        redis.opsForValue().set("stock:" + item, "5");
        return "stock " + redis.opsForValue().decrement("stock:" + item);
    }
}
