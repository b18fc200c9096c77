package demo.springclients;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestTemplate;

/**
 * Spring's blocking HTTP clients with their default request factories (Spring Framework 6.2,
 * no Boot): {@code RestTemplate} (over {@code HttpURLConnection}) and {@code RestClient} (over
 * the JDK's {@code HttpClient}) calling a JDK {@code HttpServer} in the same process inside
 * {@link #requestBoth} (a transaction under {@code hook.transactions}). The server prints on
 * standard error the {@code traceparent} each request carried; standard output is the same with
 * and without the agent.
 */
public final class ClientsApp {
    private ClientsApp() {}

    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ClientsApp::handle);
        server.start();
        try {
            System.out.println(requestBoth("http://127.0.0.1:" + server.getAddress().getPort()));
        } finally {
            server.stop(0);
        }
    }

    /** One call with each client. */
    public static String requestBoth(String base) {
        String a = new RestTemplate().getForObject(base + "/template?q=secret", String.class);
        String b = RestClient.create().get().uri(base + "/client").retrieve().body(String.class);
        return a + " " + b;
    }

    static void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        List<String> tp = ex.getRequestHeaders().get("traceparent");
        System.err.println("seen " + path + " traceparent=" + (tp == null ? "none" : tp.get(0))
                + " lines=" + (tp == null ? 0 : tp.size()));
        byte[] body = path.substring(1).getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }
}
