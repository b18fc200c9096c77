package sample;

import java.util.HashMap;
import java.util.Map;

/** Shaped like the JDK's jdk.internal.net.http.HttpRequestImpl (other types). */
public class FakeRequest {
    private final Map<String, String> systemHeaders;
    private final String method;

    public FakeRequest(Object request, Object proxy) {
        if (request == null) {
            throw new IllegalArgumentException("no request");
        }
        this.method = request.toString();
        this.systemHeaders = new HashMap<String, String>();
    }

    public FakeRequest(String method) {
        this.method = method;
        this.systemHeaders = null;
    }

    public String method() {
        return method;
    }
}
