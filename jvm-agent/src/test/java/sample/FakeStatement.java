package sample;

import java.sql.SQLException;
import java.sql.Statement;

/** Shaped like a driver's statement: only the methods the JDBC instrumentation wraps. */
public abstract class FakeStatement implements Statement {
    public int calls;

    @Override
    public boolean execute(String sql) throws SQLException {
        calls++;
        if (sql.startsWith("BAD")) {
            throw new SQLException("syntax error");
        }
        long local = sql.length();
        return local > 3;
    }

    @Override
    public int executeUpdate(String sql, int keys) {
        calls++;
        return keys;
    }

    /** Like a prepared statement's execute(). */
    public boolean execute() throws SQLException {
        return execute("SELECT 1");
    }
}
