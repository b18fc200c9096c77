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
