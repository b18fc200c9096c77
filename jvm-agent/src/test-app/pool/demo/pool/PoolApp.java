package demo.pool;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * JDBC through connection pools, as applications run it: HikariCP and the Tomcat JDBC pool over
 * one H2 database. Each {@link #request} (a transaction under the agent's {@code
 * hook.transactions}) borrows a connection, runs a prepared query twice (the second time on the
 * same statement) and one plain update, and gives the connection back. The schema is made with a
 * bare {@link DriverManager} connection outside any transaction. Prints one line per request.
 */
public final class PoolApp {
    static final String URL = "jdbc:h2:mem:pool;DB_CLOSE_DELAY=-1";
    static final String USER = "sa";
    static final String PASSWORD = "pool-secret";

    private PoolApp() {}

    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(URL, USER, PASSWORD);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE item (id INT PRIMARY KEY, name VARCHAR(64), hits INT)");
            s.execute("INSERT INTO item VALUES (42, 'widget', 0)");
        }
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(URL);
        config.setUsername(USER);
        config.setPassword(PASSWORD);
        config.setMaximumPoolSize(2);
        org.apache.tomcat.jdbc.pool.DataSource tomcat = new org.apache.tomcat.jdbc.pool.DataSource();
        tomcat.setDriverClassName("org.h2.Driver");
        tomcat.setUrl(URL);
        tomcat.setUsername(USER);
        tomcat.setPassword(PASSWORD);
        try (HikariDataSource hikari = new HikariDataSource(config)) {
            System.out.println(requestHikari(hikari, 42));
            System.out.println(requestTomcat(tomcat, 42));
        } finally {
            tomcat.close();
        }
    }

    /** One request through HikariCP. */
    public static String requestHikari(DataSource pool, int id) throws SQLException {
        return "hikari " + work(pool, id);
    }

    /** One request through the Tomcat JDBC pool. */
    public static String requestTomcat(DataSource pool, int id) throws SQLException {
        return "tomcat " + work(pool, id);
    }

    static String work(DataSource pool, int id) throws SQLException {
        String name = null;
        int hits = -1;
        try (Connection c = pool.getConnection()) {
            try (PreparedStatement ps = c.prepareStatement("SELECT name, hits FROM item WHERE id = ?")) {
                for (int round = 0; round < 2; round++) {
                    ps.setInt(1, id);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            name = rs.getString(1);
                            hits = rs.getInt(2);
                        }
                    }
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE item SET hits = hits + 1 WHERE name = 'widget'");
            }
        }
        return name + " " + hits;
    }
}
