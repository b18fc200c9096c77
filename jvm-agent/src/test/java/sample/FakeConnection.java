package sample;

import java.sql.Connection;
import java.sql.PreparedStatement;

/** Shaped like a driver's connection. */
public abstract class FakeConnection implements Connection {
    @Override
    public PreparedStatement prepareStatement(String sql) {
        if (sql.isEmpty()) {
            return null;
        }
        sql = sql.trim();
        return null;
    }
}
