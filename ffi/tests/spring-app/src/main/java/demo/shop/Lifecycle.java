package demo.shop;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.event.EventListener;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * How the test drives an instance: {@code port=N} on standard output once Tomcat listens, and
 * {@code GET /exit}, which answers {@code bye}, then closes the context (the Kafka consumer leaves
 * its group, the pools stop) and exits with its exit code.
 */
@RestController
public class Lifecycle {
    private final ConfigurableApplicationContext context;

    public Lifecycle(ConfigurableApplicationContext context) {
        this.context = context;
    }

    @EventListener
    public void listening(WebServerInitializedEvent event) {
        System.out.println("port=" + event.getWebServer().getPort());
        System.out.flush();
    }

    @GetMapping("/exit")
    public String exit() {
        Thread closer = new Thread(() -> System.exit(SpringApplication.exit(context)), "shop-exit");
        closer.start();
        return "bye";
    }
}
