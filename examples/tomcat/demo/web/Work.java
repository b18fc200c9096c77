package demo.web;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** The application's own methods (hooked with {@code hook.methods=demo.web.Work.*}). */
public final class Work {
    /** {@code chain} levels per {@code /bench} request; with {@code inner}, 20 method steps. */
    public static final int CHAIN_DEPTH = 19;

    private Work() {}

    /** Calls itself until {@code depth} is 1, then {@link #inner}: {@code depth + 1} steps. */
    public static String chain(int depth, int id) throws SQLException {
        return depth <= 1 ? inner(id) : chain(depth - 1, id);
    }

    /** {@link #outer}, then {@link #render} for {@code ms} milliseconds: a slow transaction. */
    public static String report(String id, long ms) {
        return outer(id) + render(ms);
    }

    /** Stands for slow rendering: sleeps {@code ms} milliseconds. */
    public static String render(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return " (report)";
    }

    public static String outer(String id) {
        try {
            return "hello " + inner(Integer.parseInt(id));
        } catch (SQLException e) {
            return "db error " + e.getMessage();
        }
    }

    public static String inner(int id) throws SQLException {
        StringBuilder sb = new StringBuilder();
        synchronized (WebApp.db) {
            try (Statement st = WebApp.db.createStatement();
                    ResultSet rs = st.executeQuery("SELECT name FROM item WHERE id = 42")) {
                while (rs.next()) {
                    sb.append(rs.getString(1));
                }
            }
            try (PreparedStatement ps =
                    WebApp.db.prepareStatement("SELECT name FROM item WHERE name = 'widget' AND id = ?")) {
                ps.setInt(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        sb.append(' ').append(rs.getString(1));
                    }
                }
            }
        }
        return sb.toString();
    }
}
