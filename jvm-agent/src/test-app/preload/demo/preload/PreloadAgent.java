package demo.preload;

/**
 * A Java agent listed before Osprey's: its premain loads the JDK HTTP classes Osprey changes
 * ({@code sun.net.www.protocol.http.HttpURLConnection}, {@code jdk.internal.net.http.HttpClientImpl}
 * and {@code HttpRequestImpl}), so that Osprey finds them loaded and must retransform them, as
 * it must when another agent or the container used HTTP first.
 */
public final class PreloadAgent {
    private PreloadAgent() {}

    public static void premain(String args) throws Exception {
        Object connection = new java.net.URL("http://127.0.0.1:9/").openConnection();
        java.net.http.HttpClient.newHttpClient(); // a facade over HttpClientImpl
        Class<?> client = Class.forName("jdk.internal.net.http.HttpClientImpl");
        Class<?> request = Class.forName("jdk.internal.net.http.HttpRequestImpl");
        System.err.println("preloaded " + connection.getClass().getName() + " " + client.getName()
                + " " + request.getName());
    }
}
