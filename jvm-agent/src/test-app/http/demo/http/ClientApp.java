package demo.http;

import java.io.ByteArrayOutputStream;
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
 * The caller of the HTTP client test: {@code java demo.http.ClientApp PORT} calls the {@link
 * EchoServer} on 127.0.0.1:PORT once outside any transaction, then (in {@link #calls}, made a
 * transaction with {@code hook.transactions}) with {@code HttpURLConnection}, the JDK's {@code
 * HttpClient}, Apache HttpClient 5 and 4, and {@code HttpURLConnection} again for a 500; then once
 * more with each client, the application setting its own {@code traceparent} ({@link #OWN}),
 * which must reach the server unchanged. Prints each response as {@code <client> <status>
 * <body>}.
 */
public final class ClientApp {
    /** The application's own header. */
    static final String OWN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private ClientApp() {}

    /** {@code args[0]}: the server's port. */
    public static void main(String[] args) throws Exception {
        String base = "http://127.0.0.1:" + args[0];
        System.out.println("outside " + urlConnection(base + "/echo?id=0&token=abc"));
        calls(base);
        System.out.println("done");
    }

    /** The transaction: one call per client. */
    public static void calls(String base) throws Exception {
        System.out.println("url " + urlConnection(base + "/echo?id=1&token=abc"));
        System.out.println("jdk " + jdk(base + "/echo?id=2&token=abc"));
        System.out.println("apache " + apache(base + "/echo?id=3&token=abc"));
        System.out.println("apache4 " + apache4(base + "/echo?id=4&token=abc"));
        System.out.println("error " + urlConnection(base + "/status?code=500&token=abc"));
        System.out.println("own url " + urlConnection(base + "/echo?id=6", OWN));
        System.out.println("own jdk " + jdk(base + "/echo?id=7", OWN));
        System.out.println("own apache " + apache(base + "/echo?id=8", OWN));
        System.out.println("post " + post(base + "/echo?id=9", "hello"));
        System.out.println("connect-first " + connectFirst(base + "/echo?id=10"));
        System.out.println("refused " + refused("http://127.0.0.1:1/refused"));
        System.out.println("async " + jdkAsync(base + "/echo?id=12&sleep=300"));
    }

    /** {@code sendAsync}, its future joined: the server answers after {@code sleep} ms. */
    static String jdkAsync(String url) {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url)).build();
        HttpResponse<String> r = client.sendAsync(request, HttpResponse.BodyHandlers.ofString()).join();
        return r.statusCode() + " " + r.body();
    }

    /** A POST whose body goes through {@code getOutputStream()} before the response is read. */
    static String post(String url, String body) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.setDoOutput(true);
        try (java.io.OutputStream out = c.getOutputStream()) {
            out.write(body.getBytes(StandardCharsets.UTF_8));
        }
        return c.getResponseCode() + " " + read(c.getInputStream());
    }

    /** The application calls {@code connect()} itself before reading. */
    static String connectFirst(String url) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        c.connect();
        return c.getResponseCode() + " " + read(c.getInputStream());
    }

    /** A closed port: the exception's simple name. */
    static String refused(String url) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        try {
            return String.valueOf(c.getResponseCode());
        } catch (java.io.IOException e) {
            return e.getClass().getSimpleName();
        }
    }

    static String urlConnection(String url) throws Exception {
        return urlConnection(url, null);
    }

    static String urlConnection(String url, String traceparent) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        if (traceparent != null) {
            c.setRequestProperty("traceparent", traceparent);
        }
        int status = c.getResponseCode();
        InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
        String body = read(in);
        c.disconnect();
        return status + " " + body;
    }

    static String jdk(String url) throws Exception {
        return jdk(url, null);
    }

    static String jdk(String url, String traceparent) throws Exception {
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url));
        if (traceparent != null) {
            request.header("traceparent", traceparent);
        }
        HttpResponse<String> r = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body();
    }

    static String apache(String url) throws Exception {
        return apache(url, null);
    }

    static String apache(String url, String traceparent) throws Exception {
        HttpGet get = new HttpGet(url);
        if (traceparent != null) {
            get.setHeader("traceparent", traceparent);
        }
        try (CloseableHttpClient client = HttpClients.createDefault()) {
            return client.execute(get,
                    r -> r.getCode() + " " + EntityUtils.toString(r.getEntity()));
        }
    }

    static String apache4(String url) throws Exception {
        try (org.apache.http.impl.client.CloseableHttpClient client =
                        org.apache.http.impl.client.HttpClients.createDefault();
                org.apache.http.client.methods.CloseableHttpResponse r =
                        client.execute(new org.apache.http.client.methods.HttpGet(url))) {
            return r.getStatusLine().getStatusCode() + " "
                    + org.apache.http.util.EntityUtils.toString(r.getEntity());
        }
    }

    static String read(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        in.close();
        return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }
}
