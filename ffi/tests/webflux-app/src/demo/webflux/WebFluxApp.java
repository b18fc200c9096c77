package demo.webflux;

import java.time.Duration;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.context.annotation.Bean;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.reactive.function.server.RequestPredicates;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * A Spring Boot 3 WebFlux application on Reactor Netty for the agent's tests
 * (ffi/tests/jvm_webflux.rs): annotated controllers ({@link Owners}) with URI templates, a
 * functional route, WebClient calls back into itself, work on Reactor's bounded elastic
 * scheduler, continuations after a call or a delay logging a line. Prints {@code port=N} once it serves on 127.0.0.1; {@code GET /exit} stops it.
 */
@SpringBootApplication
public class WebFluxApp {
    public static void main(String[] args) {
        SpringApplication app = new SpringApplication(WebFluxApp.class);
        app.setDefaultProperties(Map.<String, Object>of(
                "server.port", "0",
                "server.address", "127.0.0.1",
                "spring.main.banner-mode", "off",
                "logging.level.root", "warn",
                "logging.level.demo", "info",
                "logging.pattern.correlation", "[%X{trace_id:-} %X{span_id:-}] "));
        app.run(args);
        // Work of no request: the same scheduler's threads, outside any transaction.
        Flux.interval(Duration.ofMillis(100))
                .flatMap(i -> Mono.fromCallable(Work::untraced).subscribeOn(Schedulers.boundedElastic()))
                .subscribe();
    }

    @Bean
    ApplicationListener<WebServerInitializedEvent> printPort() {
        return event -> System.out.println("port=" + event.getWebServer().getPort());
    }

    @Bean
    WebClient webClient(WebClient.Builder builder) {
        return builder.build();
    }

    @Bean
    RouterFunction<ServerResponse> functional() {
        return RouterFunctions.route(RequestPredicates.GET("/fn/{name}"),
                request -> ServerResponse.ok().bodyValue("fn " + request.pathVariable("name")));
    }
}
