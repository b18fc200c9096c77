package demo.war;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * One in-memory H2 database for the web application, opened through the driver in WEB-INF/lib
 * directly (containers differ in what {@code DriverManager} sees from a web application).
 */
public final class Db {
    private static Connection connection;

    private Db() {}

    private static Connection tcp;

    /**
     * A connection to an H2 server on 127.0.0.1 (started here once, on a free port) whose URL
     * carries the password: the agent must keep the host and port and drop the rest.
     */
    public static synchronized Connection overTcp() throws SQLException {
        if (tcp == null) {
            org.h2.tools.Server server = org.h2.tools.Server.createTcpServer("-tcpPort", "0", "-ifNotExists").start();
            String url = "jdbc:h2:tcp://127.0.0.1:" + server.getPort() + "/mem:audit;USER=sa;PASSWORD=s3cret";
            tcp = new org.h2.Driver().connect(url, new Properties());
            try (Statement st = tcp.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS audit(id INT, what VARCHAR(40))");
            }
        }
        return tcp;
    }

    /** The shared connection, created with the demo table on first use. */
    public static synchronized Connection get() throws SQLException {
        if (connection == null) {
            Properties p = new Properties();
            p.setProperty("user", "sa");
            p.setProperty("password", "s3cret");
            connection = new org.h2.Driver().connect("jdbc:h2:mem:war;DB_CLOSE_DELAY=-1", p);
            try (Statement st = connection.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS item(id INT PRIMARY KEY, name VARCHAR(40))");
                st.execute("MERGE INTO item VALUES (42, 'widget')");
            }
        }
        return connection;
    }
}
