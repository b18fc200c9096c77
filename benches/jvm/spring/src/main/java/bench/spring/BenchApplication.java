package bench.spring;

import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;

/**
 * The Spring MVC bench application: {@code GET /owners/{id}} ({@link OwnerController}) reads an
 * owner through a Spring Data JPA repository from an in-memory H2 database filled at start-up.
 * {@code server.port=0} picks a free port, printed as {@code port=N}.
 */
@SpringBootApplication
public class BenchApplication {
    /** Owners stored at start-up, ids 1 to this. */
    static final int OWNERS = 100;

    public static void main(String[] args) {
        SpringApplication.run(BenchApplication.class, args);
    }

    /** Prints {@code port=N} once the web server listens. */
    @Bean
    public ApplicationListener<WebServerInitializedEvent> printPort() {
        return event -> {
            System.out.println("port=" + event.getWebServer().getPort());
            System.out.flush();
        };
    }

    /** Fills the database. */
    @Bean
    public CommandLineRunner owners(OwnerRepository repository) {
        return args -> {
            String[] cities = {"Madison", "Sun Prairie", "McFarland", "Windsor", "Monona"};
            for (int i = 1; i <= OWNERS; i++) {
                repository.save(new Owner("First" + i, "Last" + i, cities[i % cities.length]));
            }
        };
    }
}
