package demo.okhttp;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import okhttp3.MediaType;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.RequestBody;
import okhttp3.Response;

/**
 * OkHttp (compiled against 4, run with 3 and 4) calling a JDK {@code HttpServer} in the same
 * process. {@link #requestCalls} (a transaction under {@code hook.transactions}) makes six calls:
 * a GET with a query, a POST, a 404, one with the application's own {@code traceparent}, a 500,
 * and one to a closed port; then one call outside any transaction. Standard output is the same
 * with and without the agent; the server prints on standard error the trace headers each request
 * carried ({@code seen PATH traceparent=... lines=N}).
 */
public final class OkApp {
    static final String OWN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private OkApp() {}

    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", OkApp::handle);
        server.start();
        int port = server.getAddress().getPort();
        try {
            OkHttpClient client = new OkHttpClient();
            // A client built from another keeps one interceptor of the agent's, not two.
            OkHttpClient derived = client.newBuilder().build();
            System.out.println(requestCalls(client, derived, port));
            System.out.println("outside " + get(client, "http://127.0.0.1:" + port + "/outside", null));
        } finally {
            server.stop(0);
        }
    }

    /** Six calls in one transaction. */
    public static String requestCalls(OkHttpClient client, OkHttpClient derived, int port) throws IOException {
        String base = "http://127.0.0.1:" + port;
        StringBuilder out = new StringBuilder("calls");
        out.append(' ').append(get(client, base + "/items?token=secret-token", null));
        Request post = new Request.Builder().url(base + "/orders")
                .post(RequestBody.create(MediaType.parse("text/plain"), "secret-body")).build();
        try (Response r = derived.newCall(post).execute()) {
            out.append(' ').append(r.code());
        }
        out.append(' ').append(get(client, base + "/missing", null));
        out.append(' ').append(get(client, base + "/own", OWN));
        out.append(' ').append(get(client, base + "/fail", null));
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        try {
            get(client, "http://127.0.0.1:" + closed + "/refused", null);
            out.append(" reached");
        } catch (IOException e) {
            out.append(" refused");
        }
        return out.toString();
    }

    static int get(OkHttpClient client, String url, String traceparent) throws IOException {
        Request.Builder b = new Request.Builder().url(url);
        if (traceparent != null) {
            b.header("traceparent", traceparent);
        }
        try (Response r = client.newCall(b.build()).execute()) {
            r.body().string();
            return r.code();
        }
    }

    static void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        List<String> tp = ex.getRequestHeaders().get("traceparent");
        System.err.println("seen " + path + " traceparent=" + (tp == null ? "none" : tp.get(0))
                + " lines=" + (tp == null ? 0 : tp.size()));
        int status = path.equals("/missing") ? 404 : path.equals("/fail") ? 500 : 200;
        byte[] body = "ok".getBytes(StandardCharsets.UTF_8);
        ex.getRequestBody().readAllBytes();
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }
}
