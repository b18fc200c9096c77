package demo.shop;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** Places orders in a database transaction of Spring's. */
@Service
public class Shop {
    private static final Logger LOG = LoggerFactory.getLogger(Shop.class);
    private final OrderRepository orders;

    public Shop(OrderRepository orders) {
        this.orders = orders;
    }

    /** Saves the order; Spring commits when this returns. */
    @Transactional
    public Order place(String item, String note) {
        LOG.info("placing {}", item);
        return orders.save(new Order(item, note));
    }
}
