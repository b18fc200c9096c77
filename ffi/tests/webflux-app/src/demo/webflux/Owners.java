package demo.webflux;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.env.Environment;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** Annotated handlers. */
@RestController
public class Owners {
    private static final Logger LOG = LoggerFactory.getLogger(Owners.class);

    private final WebClient client;
    private final Environment environment;

    public Owners(WebClient client, Environment environment) {
        this.client = client;
        this.environment = environment;
    }

    @GetMapping("/owners/{ownerId}")
    public Mono<String> owner(@PathVariable("ownerId") String ownerId) {
        return Mono.just("owner " + ownerId);
    }

    @GetMapping("/owners/{ownerId}/pets/{petId}")
    public String pet(@PathVariable("ownerId") String ownerId, @PathVariable("petId") String petId) {
        return "pet " + petId + " of " + ownerId;
    }

    /** What a caller sent: its trace parent, and whether secrets came along. */
    @GetMapping("/echo/{id}")
    public Mono<String> echo(@PathVariable("id") String id,
            @RequestHeader(value = "traceparent", required = false) String traceparent,
            @RequestHeader(value = "tracestate", required = false) String tracestate,
            @RequestHeader(value = "authorization", required = false) String authorization) {
        return Mono.just("echo " + id + " traceparent=" + traceparent + " tracestate=" + tracestate
                + " auth=" + (authorization != null));
    }

    /** A WebClient call to this application's {@code /echo} (secrets in header and query). */
    @GetMapping("/call/{id}")
    public Mono<String> call(@PathVariable("id") String id) {
        return echoCall(id);
    }

    /** Work on the bounded elastic scheduler (subscribeOn), its result returned. */
    @GetMapping("/hop/{id}")
    public Mono<String> hop(@PathVariable("id") String id) {
        return Mono.fromCallable(() -> Work.slow(id)).subscribeOn(Schedulers.boundedElastic());
    }

    /** The value moved to the bounded elastic scheduler (publishOn) and worked on there. */
    @GetMapping("/publish/{id}")
    public Mono<String> publish(@PathVariable("id") String id) {
        return Mono.just(id).publishOn(Schedulers.boundedElastic()).map(Work::slow);
    }

    /** A WebClient call subscribed on the bounded elastic scheduler. */
    @GetMapping("/hop-call/{id}")
    public Mono<String> hopCall(@PathVariable("id") String id) {
        return Mono.defer(() -> echoCall(id)).subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * A WebClient call, then work where its response arrives (a Reactor Netty thread): a hooked
     * step, a log line and a second call, from the continuation.
     */
    @GetMapping("/chain/{id}")
    public Mono<String> chain(@PathVariable("id") String id) {
        return echoCall(id)
                .map(body -> Work.after(id) + " " + body)
                .flatMap(first -> {
                    LOG.info("continued {} on {}", id, Thread.currentThread().getName());
                    return echoCall(id + "b").map(second -> first + " | " + second);
                });
    }

    /** Work after a delay (a signal on Reactor's parallel scheduler). */
    @GetMapping("/delay/{id}")
    public Mono<String> delay(@PathVariable("id") String id) {
        return Mono.delay(Duration.ofMillis(20)).map(tick -> Work.after(id));
    }

    @GetMapping("/fail/{id}")
    public Mono<String> fail(@PathVariable("id") String id) {
        throw new IllegalStateException("no owner " + id);
    }

    @GetMapping("/exit")
    public Mono<String> exit() {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(300);
            } catch (InterruptedException ignored) {
                // exit now
            }
            System.exit(0);
        });
        t.start();
        return Mono.just("bye");
    }

    private Mono<String> echoCall(String id) {
        String port = environment.getProperty("local.server.port");
        return client.get()
                .uri("http://127.0.0.1:" + port + "/echo/" + id + "?token=s3cret-value")
                .header("Authorization", "Bearer hunter2")
                .retrieve()
                .bodyToMono(String.class)
                .map(body -> "called " + id + ": " + body);
    }
}
