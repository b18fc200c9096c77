package demo.http;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

/**
 * The callee of the HTTP client test: embedded Tomcat 11 on 127.0.0.1 (port printed as {@code
 * port=N}). {@code /echo?id=N} answers {@code echo N} and prints the {@code traceparent} it
 * received ({@code seen id=N traceparent=...}, {@code none} without one) on standard output, not
 * in the response (with {@code show=1}, also in it, with the {@code tracestate}); a POST there answers {@code posted <body length> id=N}; {@code /status?code=N} answers with status N; {@code /relay?id=N} calls {@code /echo} with three clients ({@link Relay}); {@code /exit} stops it (or it
 * stops by itself after two minutes).
 */
public final class EchoServer {
    static final CountDownLatch EXIT = new CountDownLatch(1);

    private EchoServer() {}

    /** Starts the server, prints its port, waits for {@code /exit}. */
    public static void main(String[] args) throws Exception {
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(Files.createTempDirectory("osprey-echo").toString());
        Connector connector = new Connector();
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        tomcat.setConnector(connector);
        Context ctx = tomcat.addContext("", null);
        Tomcat.addServlet(ctx, "echo", new Echo()).addMapping("/echo");
        Tomcat.addServlet(ctx, "status", new Status()).addMapping("/status");
        Tomcat.addServlet(ctx, "exit", new Exit()).addMapping("/exit");
        Tomcat.addServlet(ctx, "relay", new Relay()).addMapping("/relay");
        tomcat.start();
        System.out.println("port=" + connector.getLocalPort());
        System.out.flush();
        boolean asked = EXIT.await(120, TimeUnit.SECONDS);
        tomcat.stop();
        tomcat.destroy();
        System.out.println(asked ? "stopped" : "timed out");
        System.exit(0);
    }

    static final class Echo extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String id = req.getParameter("id");
            String tp = req.getHeader("traceparent");
            synchronized (System.out) {
                System.out.println("seen id=" + id + " traceparent=" + (tp == null ? "none" : tp));
                System.out.flush();
            }
            String sleep = req.getParameter("sleep"); // milliseconds before answering
            if (sleep != null) {
                try {
                    Thread.sleep(Long.parseLong(sleep));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            resp.setContentType("text/plain");
            if (req.getParameter("show") != null) { // the Trace Context headers it saw, in the body
                String ts = req.getHeader("tracestate");
                resp.getWriter().print("echo " + id + " traceparent=" + (tp == null ? "none" : tp)
                        + " tracestate=" + (ts == null ? "none" : ts));
                return;
            }
            resp.getWriter().print("echo " + id);
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes(); // before getParameter parses it
            String id = req.getParameter("id");
            String tp = req.getHeader("traceparent");
            synchronized (System.out) {
                System.out.println("seen id=" + id + " traceparent=" + (tp == null ? "none" : tp));
                System.out.flush();
            }
            resp.setContentType("text/plain");
            resp.getWriter().print("posted " + body.length + " id=" + id);
        }
    }

    static final class Status extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            int code = Integer.parseInt(req.getParameter("code"));
            resp.setStatus(code);
            resp.setContentType("text/plain");
            resp.getWriter().print("status " + code);
        }
    }

    static final class Exit extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().print("bye");
            EXIT.countDown();
        }
    }
}
