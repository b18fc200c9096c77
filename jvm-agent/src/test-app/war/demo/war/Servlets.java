package demo.war;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;

/**
 * The demo web application, deployed as one WAR on every server: {@code /hello?id=N} (two nested
 * methods, two queries), {@code /fail} (throws), {@code /async?ms=N} (completes on another thread
 * after N ms), {@code /batch} (JDBC batches over an H2 TCP connection), {@code /call?port=N}
 * (calls {@code /hello?id=42} of the app on port N over HTTP).
 */
public final class Servlets {
    private Servlets() {}

    /** Two nested methods and two queries. */
    @WebServlet("/hello")
    public static final class Hello extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().print(Work.outer(req.getParameter("id")));
        }
    }

    /** Mapped by path prefix: {@code /items/N}. */
    @WebServlet("/items/*")
    public static final class Items extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().print("item " + req.getPathInfo().substring(1));
        }
    }

    /** Always throws. */
    @WebServlet("/fail")
    public static final class Fail extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            throw new IllegalStateException("kaboom");
        }
    }

    /** Answers from another thread after {@code ms} milliseconds. */
    @WebServlet(urlPatterns = "/async", asyncSupported = true)
    public static final class Async extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            final long ms = Long.parseLong(req.getParameter("ms"));
            final AsyncContext ctx = req.startAsync();
            new Thread(() -> {
                try {
                    Thread.sleep(ms);
                    ctx.getResponse().setContentType("text/plain");
                    ctx.getResponse().getWriter().print("async after " + ms + " ms");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                } finally {
                    ctx.complete();
                }
            }, "demo-async").start();
        }
    }

    /** Batches over a TCP connection: a prepared statement's and a plain statement's. */
    @WebServlet("/batch")
    public static final class Batch extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            int[] prepared;
            int[] plain;
            try {
                java.sql.Connection db = Db.overTcp();
                synchronized (db) {
                    try (java.sql.PreparedStatement ps = db.prepareStatement("INSERT INTO audit VALUES (?, 'login')")) {
                        for (int i = 0; i < 3; i++) {
                            ps.setInt(1, i);
                            ps.addBatch();
                        }
                        prepared = ps.executeBatch();
                    }
                    try (java.sql.Statement st = db.createStatement()) {
                        st.addBatch("INSERT INTO audit VALUES (7, 'secret-literal')");
                        st.addBatch("DELETE FROM audit WHERE id = 7");
                        plain = st.executeBatch();
                    }
                }
            } catch (java.sql.SQLException e) {
                throw new IOException(e);
            }
            resp.setContentType("text/plain");
            resp.getWriter().print("batched " + prepared.length + " + " + plain.length);
        }
    }

    /** Calls the other application's {@code /hello?id=42} with HttpURLConnection. */
    @WebServlet("/call")
    public static final class Call extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            int port = Integer.parseInt(req.getParameter("port"));
            String path = req.getParameter("path") == null ? "/app/hello?id=42" : req.getParameter("path");
            HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
            int status = c.getResponseCode();
            String body;
            try (InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream()) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                byte[] buf = new byte[4096];
                int n;
                while (in != null && (n = in.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
                body = out.toString("UTF-8");
            }
            resp.setContentType("text/plain");
            resp.getWriter().print("called " + status + ": " + body);
        }
    }
}
