package demo.web;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

/**
 * Embedded Tomcat 11 on 127.0.0.1 (port chosen by the system, printed as {@code port=N}) with
 * an in-memory H2 database. {@code /hello?id=N} runs two nested methods and two queries, {@code
 * /fail} throws, {@code /slow?id=N&ms=M} renders a report for about M ms after the same work as
 * {@code /hello}, {@code /exit} stops the server (or it stops by itself after a minute, or after
 * {@code -Ddemo.lifetime.s=N} seconds). For the load benchmark ({@code benches/jvm/run.sh}):
 * {@code /bench?id=N} runs 20 method steps ({@link Work#chain}) and two queries, {@code /stats}
 * prints the bytes allocated so far by all live threads ({@code /stats?threads=1}: and by each).
 */
public final class WebApp {
    static Connection db;
    static final CountDownLatch EXIT = new CountDownLatch(1);

    private WebApp() {}

    public static void main(String[] args) throws Exception {
        db = DriverManager.getConnection("jdbc:h2:mem:demo;DB_CLOSE_DELAY=-1", "sa", "s3cret");
        try (Statement st = db.createStatement()) {
            st.execute("CREATE TABLE item(id INT PRIMARY KEY, name VARCHAR(40))");
            st.execute("INSERT INTO item VALUES (42, 'widget')");
        }
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(Files.createTempDirectory("osprey-tomcat").toString());
        Connector connector = new Connector();
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        tomcat.setConnector(connector);
        Context ctx = tomcat.addContext("", null);
        Tomcat.addServlet(ctx, "hello", new Hello()).addMapping("/hello");
        Tomcat.addServlet(ctx, "fail", new Fail()).addMapping("/fail");
        Tomcat.addServlet(ctx, "slow", new Slow()).addMapping("/slow");
        Tomcat.addServlet(ctx, "exit", new Exit()).addMapping("/exit");
        Tomcat.addServlet(ctx, "bench", new Bench()).addMapping("/bench");
        Tomcat.addServlet(ctx, "stats", new Stats()).addMapping("/stats");
        Tomcat.addServlet(ctx, "login", new Login()).addMapping("/login");
        Tomcat.addServlet(ctx, "big", new Big()).addMapping("/big");
        tomcat.start();
        System.out.println("port=" + connector.getLocalPort());
        System.out.flush();
        boolean asked = EXIT.await(Long.getLong("demo.lifetime.s", 60), TimeUnit.SECONDS);
        tomcat.stop();
        tomcat.destroy();
        db.close();
        System.out.println(asked ? "stopped" : "timed out");
        System.exit(0);
    }

    static final class Hello extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            resp.getWriter().print(Work.outer(req.getParameter("id")));
        }
    }

    /**
     * For the secrets scan ({@code ffi/tests/jvm_tomcat.rs}): opens a database by a JDBC URL
     * carrying the password sent in {@code X-Db-Password}, runs a plain statement with {@code
     * X-Literal} concatenated in (against a missing table, so the driver's error quotes it) and a
     * prepared statement bound to {@code X-Bind}; answers {@code login ok} or the error's class.
     */
    static final class Login extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            String url = "jdbc:h2:mem:login;USER=sa;PASSWORD=" + req.getHeader("X-Db-Password");
            String answer = "login ok";
            try (Connection c = DriverManager.getConnection(url);
                    Statement st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS account(api_key VARCHAR(40))");
                try {
                    st.executeQuery("SELECT api_key FROM missing WHERE api_key = '"
                            + req.getHeader("X-Literal") + "'").close();
                } catch (java.sql.SQLException expected) {
                    answer += " (missing table)";
                }
                try (java.sql.PreparedStatement ps =
                        c.prepareStatement("SELECT api_key FROM account WHERE api_key = ?")) {
                    ps.setString(1, req.getHeader("X-Bind"));
                    ps.executeQuery().close();
                }
            } catch (java.sql.SQLException e) {
                answer = "db error " + e.getClass().getName();
            }
            resp.getWriter().print(answer);
        }
    }

    /**
     * For the agent-fault test ({@code ffi/tests/jvm_faults.rs}): calls {@code demo.web.Big.sum()}
     * when the test put that class on the class path (a method too large to instrument), else
     * answers {@code no big}.
     */
    static final class Big extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            String answer;
            try {
                answer = "big " + Class.forName("demo.web.Big").getMethod("sum").invoke(null);
            } catch (ClassNotFoundException e) {
                answer = "no big";
            } catch (ReflectiveOperationException e) {
                answer = "big failed " + e.getCause();
            }
            resp.getWriter().print(answer);
        }
    }

    static final class Slow extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            String ms = req.getParameter("ms");
            resp.getWriter().print(Work.report(req.getParameter("id"), ms == null ? 500 : Long.parseLong(ms)));
        }
    }

    static final class Fail extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            throw new IllegalStateException("kaboom");
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

    /** 20 method steps ({@code Work.chain} 19 deep, then {@code Work.inner}) and two queries. */
    static final class Bench extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain");
            String answer;
            try {
                answer = "bench " + Work.chain(Work.CHAIN_DEPTH, Integer.parseInt(req.getParameter("id")));
            } catch (java.sql.SQLException e) {
                answer = "db error " + e.getMessage();
            }
            resp.getWriter().print(answer);
        }
    }

    /**
     * The bytes allocated so far by all live threads (HotSpot's per-thread counters); with {@code
     * ?threads=1}, then one line per live thread: {@code thread<TAB>id<TAB>bytes<TAB>name}.
     */
    static final class Stats extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long[] ids = threads.getAllThreadIds();
            long[] allocated = threads.getThreadAllocatedBytes(ids);
            long total = 0;
            for (long bytes : allocated) {
                if (bytes > 0) {
                    total += bytes;
                }
            }
            resp.setContentType("text/plain");
            StringBuilder out = new StringBuilder("allocated_bytes=").append(total);
            if ("1".equals(req.getParameter("threads"))) {
                java.lang.management.ThreadInfo[] infos = threads.getThreadInfo(ids, 0);
                for (int i = 0; i < ids.length; i++) {
                    if (allocated[i] >= 0 && infos[i] != null) {
                        out.append("\nthread\t").append(ids[i]).append('\t').append(allocated[i])
                                .append('\t').append(infos[i].getThreadName());
                    }
                }
            }
            resp.getWriter().print(out);
        }
    }
}
