package sample;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;

/** Shaped like the JDK's sun.net.www.protocol.http.HttpURLConnection. */
public class FakeUrlConnection extends HttpURLConnection {
    final ByteArrayOutputStream body = new ByteArrayOutputStream();

    public FakeUrlConnection(URL url) {
        super(url);
    }

    @Override
    public void connect() throws IOException {
        if (url.getPort() == 1) {
            throw new IOException("refused");
        }
        connected = true;
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        connect();
        return body;
    }

    @Override
    public synchronized InputStream getInputStream() throws IOException {
        if (!connected) {
            connect();
        }
        responseCode = 200;
        return new ByteArrayInputStream(("got " + body.size()).getBytes("UTF-8"));
    }

    @Override
    public String getHeaderField(int n) {
        return n == 0 && connected ? "HTTP/1.1 200 OK" : null;
    }

    @Override
    public void disconnect() {}

    @Override
    public boolean usingProxy() {
        return false;
    }
}
