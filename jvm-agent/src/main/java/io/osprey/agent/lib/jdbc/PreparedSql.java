package io.osprey.agent.lib.jdbc;

/**
 * Added by the JDBC instrumentation to the statement classes it wraps (with a field that holds
 * the value): the SQL a prepared statement was created with lives on the statement itself, so
 * remembering it allocates nothing and it goes away with the statement.
 */
public interface PreparedSql {
    /** The SQL the statement was prepared with; null when no instrumented connection prepared it. */
    String osprey$sql();

    /** Remembers the SQL the statement was prepared with. */
    void osprey$setSql(String sql);
}
