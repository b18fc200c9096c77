package demo.http;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.core5.http.io.entity.EntityUtils;

/**
 * {@code /relay?id=N}: a servlet making outgoing calls while it serves a request, for the W3C
 * Trace Context test. It calls this server's {@code /echo?id=N&show=1} with {@code
 * HttpURLConnection}, the JDK's {@code HttpClient} and Apache HttpClient 5, and answers one line
 * per client with what the echo saw ({@code url echo N traceparent=... tracestate=...}).
 */
public final class Relay extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String echo = "http://127.0.0.1:" + req.getLocalPort() + "/echo?show=1&id=" + req.getParameter("id");
        StringBuilder out = new StringBuilder();
        out.append("url ").append(urlConnection(echo)).append('\n');
        out.append("jdk ").append(jdk(echo)).append('\n');
        out.append("apache ").append(apache(echo)).append('\n');
        resp.setContentType("text/plain");
        resp.getWriter().print(out);
    }

    private static String urlConnection(String url) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        try (InputStream in = c.getInputStream()) {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            byte[] buf = new byte[1024];
            int n;
            while ((n = in.read(buf)) > 0) {
                body.write(buf, 0, n);
            }
            return body.toString(StandardCharsets.UTF_8.name());
        } finally {
            c.disconnect();
        }
    }

    private static String jdk(String url) throws IOException {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try {
            return client.send(HttpRequest.newBuilder(URI.create(url)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static String apache(String url) throws IOException {
        try (CloseableHttpClient client = HttpClients.createDefault()) {
            return client.execute(new HttpGet(url), r -> EntityUtils.toString(r.getEntity()));
        }
    }
}
