package io.osprey.agent.lib.servlet;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.LibraryInstrumentation;
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

    private static final List<String> KEYS = Collections.unmodifiableList(Arrays.asList(
            HTTP_CLIENT_IP_HEADER, HTTP_USER, HTTP_QUERY_ALLOW));

    private static boolean started;
    private static String complaint;

    private final ServletInstrumentation instrumentation = new ServletInstrumentation();

    @Override
    public String name() {
        return "servlet";
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
        complaint = Servers.init(settings.get(HTTP_CLIENT_IP_HEADER), settings.get(HTTP_USER),
                settings.get(HTTP_QUERY_ALLOW));
        return complaint;
    }

    @Override
    public LibraryInstrumentation instrumentation() {
        return instrumentation;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        ServletInstrumentation.rewrite(new ClassReader(code), "(" + self + self + ")V");
    }
}
