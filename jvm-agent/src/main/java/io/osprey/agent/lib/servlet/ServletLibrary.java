package io.osprey.agent.lib.servlet;

import io.osprey.agent.bootstrap.Endpoints;
import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.objectweb.asm.ClassReader;

/**
 * Servlets ({@code instrument.servlet}: route names and exceptions at {@code HttpServlet.service})
 * and the request settings every server transaction reads, whichever container begins it.
 */
public final class ServletLibrary extends Library {
    /** A forwarding header whose first address becomes {@code client.address}. */
    public static final String HTTP_CLIENT_IP_HEADER = "http.client_ip_header";
    /** Where {@code user.id} comes from. */
    public static final String HTTP_USER = "http.user";
    /** Query parameter names kept in {@code url.query}. */
    public static final String HTTP_QUERY_ALLOW = "http.query.allow";

    /** Path patterns ({@code /files/*}) that name the paths they match. */
    public static final String URL_NORMALIZE = "url.normalize";
    /** {@code false}: number, UUID and long hex segments are not replaced by {@code {id}}. */
    public static final String URL_NORMALIZE_IDS = "url.normalize.ids";
    /** The cap on distinct transaction names of the service. */
    public static final String HTTP_ENDPOINTS_MAX = "http.endpoints.max";

    private static final List<String> KEYS = Collections.unmodifiableList(Arrays.asList(
            HTTP_CLIENT_IP_HEADER, HTTP_USER, HTTP_QUERY_ALLOW, URL_NORMALIZE, URL_NORMALIZE_IDS,
            HTTP_ENDPOINTS_MAX));

    private static boolean started;

    /** The library, with a fresh transform. */
    public ServletLibrary() {
        super("servlet", new ServletInstrumentation());
    }

    @Override
    public List<String> keys() {
        return KEYS;
    }

    @Override
    public String start(Settings settings) {
        return startServers(settings);
    }

    /**
     * Starts the server runtime once, for whichever of Tomcat, Undertow and the servlet
     * instrumentation is on; the complaint (about the request settings) is returned the first time
     * only, so it is printed once.
     */
    public static synchronized String startServers(Settings settings) {
        if (started) {
            return null;
        }
        started = true;
        String complaint = Servers.init(settings.get(HTTP_CLIENT_IP_HEADER), settings.get(HTTP_USER),
                settings.get(HTTP_QUERY_ALLOW));
        String routes = Routes.configure(settings.get(URL_NORMALIZE), settings.get(URL_NORMALIZE_IDS));
        String cap = Endpoints.configure(settings.get(HTTP_ENDPOINTS_MAX));
        return join(join(complaint, routes), cap);
    }

    private static String join(String a, String b) {
        return a == null ? b : b == null ? a : a + "; " + b;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        ServletInstrumentation.rewrite(new ClassReader(code), "(" + self + self + ")V");
    }
}
