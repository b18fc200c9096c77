package demo.thymeleaf;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.stereotype.Controller;
import org.springframework.ui.Model;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.ResponseBody;

/**
 * A Spring Boot MVC application rendering Thymeleaf templates ({@code templates/*.html} on the
 * class path): a page with a fragment, and a template whose expression fails. Prints {@code
 * port=N} once it listens on 127.0.0.1; {@code /exit} stops it.
 */
@SpringBootApplication
@Controller
public class ThymeleafApp {
    public static void main(String[] args) {
        System.setProperty("server.port", "0");
        System.setProperty("server.address", "127.0.0.1");
        System.setProperty("spring.main.banner-mode", "off");
        SpringApplication.run(ThymeleafApp.class, args);
    }

    /** Prints the port once the web server listens. */
    @Bean
    public ApplicationListener<WebServerInitializedEvent> printPort() {
        return event -> {
            System.out.println("port=" + event.getWebServer().getPort());
            System.out.flush();
        };
    }

    /** The {@code hello} template with the name in its model. */
    @GetMapping("/hello/{name}")
    public String hello(@PathVariable("name") String name, Model model) {
        model.addAttribute("name", name);
        return "hello";
    }

    /** The {@code broken} template, whose expression fails while it renders. */
    @GetMapping("/broken")
    public String broken() {
        return "broken";
    }

    /** Answers, then stops the application (the test's way out). */
    @GetMapping("/exit")
    @ResponseBody
    public String exit() {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            System.exit(0);
        });
        t.start();
        return "bye";
    }
}
