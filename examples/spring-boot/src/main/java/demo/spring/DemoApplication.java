package demo.spring;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import org.glassfish.jersey.server.ResourceConfig;
import org.glassfish.jersey.servlet.ServletContainer;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Boot 3 (Spring MVC on embedded Tomcat) application with URI-template routes, a JAX-RS
 * resource in a Jersey servlet ({@code /api/*}, {@link Pets}) and a plain servlet mapped by path
 * prefix ({@code /legacy/*}), for the agent's route naming test.
 * {@code server.port=0} picks a free port, printed as {@code port=N}; {@code /exit} stops it.
 */
@SpringBootApplication
public class DemoApplication {
    public static void main(String[] args) {
        SpringApplication.run(DemoApplication.class, args);
    }

    /** Prints {@code port=N} once the web server listens. */
    @Bean
    public ApplicationListener<WebServerInitializedEvent> printPort() {
        return event -> {
            System.out.println("port=" + event.getWebServer().getPort());
            System.out.flush();
        };
    }

    /** Jersey (JAX-RS) in a servlet of its own at {@code /api/*}. */
    @Bean
    public ServletRegistrationBean<ServletContainer> jaxrs() {
        return new ServletRegistrationBean<ServletContainer>(
                new ServletContainer(new ResourceConfig(Pets.class)), "/api/*");
    }

    /** A servlet outside Spring MVC, mapped by path prefix. */
    @Bean
    public ServletRegistrationBean<HttpServlet> legacy() {
        return new ServletRegistrationBean<HttpServlet>(new HttpServlet() {
            @Override
            protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
                resp.setContentType("text/plain");
                resp.getWriter().print("legacy " + req.getPathInfo());
            }
        }, "/legacy/*");
    }

    /** Owners and their pets: two templates, one with two variables. */
    @RestController
    @RequestMapping("/owners")
    public static class Owners {
        @GetMapping("/{ownerId}")
        public String owner(@PathVariable("ownerId") long ownerId) {
            return "owner " + ownerId;
        }

        @GetMapping("/{ownerId}/pets/{petId}")
        public String pet(@PathVariable("ownerId") long ownerId, @PathVariable("petId") String petId) {
            return "pet " + petId + " of " + ownerId;
        }

        @PostMapping("/{ownerId}/visits")
        public String visit(@PathVariable("ownerId") long ownerId) {
            return "visit for " + ownerId;
        }
    }

    /** A fixed route and a failing one. */
    @RestController
    public static class Misc {
        @GetMapping("/hello")
        public String hello() {
            return "hello";
        }

        @GetMapping("/fail/{code}")
        public String fail(@PathVariable("code") int code) {
            throw new IllegalStateException("failing " + code);
        }

        /** Answers, then stops the application (the test's way out). */
        @GetMapping("/exit")
        public String exit() {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
                System.out.println("stopped");
                System.exit(0);
            });
            t.start();
            return "bye";
        }
    }
}
