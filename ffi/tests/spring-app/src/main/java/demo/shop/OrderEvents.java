package demo.shop;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** The Kafka consumer of the orders {@link ShopController} publishes; {@code /consumed} lists them. */
@RestController
@Component
public class OrderEvents {
    private static final Logger LOG = LoggerFactory.getLogger(OrderEvents.class);
    private final OrderRepository orders;
    private final List<String> consumed = new CopyOnWriteArrayList<>();

    public OrderEvents(OrderRepository orders) {
        this.orders = orders;
    }

    @KafkaListener(topics = "${shop.topic:orders}", autoStartup = "${shop.listen:true}")
    public void onOrder(ConsumerRecord<String, String> record) {
        int found = orders.findByItem(record.key()).size();
        LOG.info("consumed order of {}", record.key());
        consumed.add(record.key() + " " + found);
    }

    @GetMapping("/consumed")
    public String consumed() {
        return String.join(",", consumed);
    }
}
