package demo.shop;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.scheduling.annotation.EnableAsync;
import org.springframework.scheduling.annotation.EnableScheduling;
import org.springframework.web.client.RestClient;

/**
 * A shop on Spring Boot 3 for the agent's end-to-end test: Spring MVC ({@link ShopController}),
 * Spring Data JPA on PostgreSQL ({@link OrderRepository}), a {@code RestClient} to a second
 * instance of this application ({@code shop.backend-url}, answering {@link StockController}),
 * {@code @Async} ({@link Audits}), {@code @Scheduled} ({@link Ticker}), a Kafka producer and
 * consumer ({@link OrderEvents}) and Redis through Lettuce. {@code server.port=0} picks a free port,
 * printed as {@code port=N}; {@code /exit} stops it ({@link Lifecycle}).
 */
@SpringBootApplication
@EnableAsync
@EnableScheduling
public class ShopApplication {
    public static void main(String[] args) {
        SpringApplication.run(ShopApplication.class, args);
    }

    /** The client of the other instance (Boot picks the JDK's HttpClient underneath). */
    @Bean
    public RestClient backend(RestClient.Builder builder, @Value("${shop.backend-url:http://127.0.0.1:1}") String url) {
        return builder.baseUrl(url).build();
    }
}
