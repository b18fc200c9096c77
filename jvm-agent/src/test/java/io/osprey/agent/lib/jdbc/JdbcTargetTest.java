package io.osprey.agent.lib.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * What a statement's connection says ({@code db.system}, server, database) is read once per
 * pooled connection, even when every checkout hands out a new proxy (HikariCP, Spring Boot's
 * default pool): before, each request read the connection's metadata by reflection.
 */
class JdbcTargetTest {
    private static final ClassLoader LOADER = JdbcTargetTest.class.getClassLoader();

    /** A driver's connection to {@code url}: counts metadata reads; unwraps to itself. */
    static Connection driverConnection(String url, AtomicInteger metadataReads) {
        DatabaseMetaData meta = (DatabaseMetaData) Proxy.newProxyInstance(LOADER,
                new Class<?>[] {DatabaseMetaData.class},
                (proxy, m, args) -> m.getName().equals("getURL") ? url : null);
        return connection((proxy, m, args) -> {
            if (m.getName().equals("getMetaData")) {
                metadataReads.incrementAndGet();
                return meta;
            }
            return m.getName().equals("unwrap") ? proxy : null;
        });
    }

    /** A pool's proxy for one checkout of {@code pooled}, as HikariCP's: unwraps to it. */
    static Connection checkout(Connection pooled, AtomicInteger metadataReads) {
        return connection((proxy, m, args) -> {
            switch (m.getName()) {
                case "getMetaData":
                    metadataReads.incrementAndGet();
                    return pooled.getMetaData();
                case "unwrap":
                    return pooled;
                default:
                    return null;
            }
        });
    }

    interface Calls {
        Object call(Object proxy, java.lang.reflect.Method m, Object[] args) throws Throwable;
    }

    /** A connection answering {@code calls}, with identity equality (the cache's keys). */
    static Connection connection(Calls calls) {
        return (Connection) Proxy.newProxyInstance(LOADER, new Class<?>[] {Connection.class},
                (proxy, m, args) -> {
                    if (m.getName().equals("hashCode")) {
                        return System.identityHashCode(proxy);
                    }
                    if (m.getName().equals("equals")) {
                        return proxy == args[0];
                    }
                    return calls.call(proxy, m, args);
                });
    }

    @Test
    void a_new_proxy_per_checkout_is_answered_from_the_pooled_connection_read_once() {
        AtomicInteger reads = new AtomicInteger();
        Connection pooled = driverConnection("jdbc:postgresql://db.example:5433/shop", reads);
        AtomicInteger proxyReads = new AtomicInteger();
        Jdbc.DbTarget first = Jdbc.targetOf(checkout(pooled, proxyReads));
        assertEquals("postgresql", first.system);
        assertEquals("db.example", first.host);
        assertEquals(5433, first.port);
        assertEquals("shop", first.namespace);
        for (int i = 0; i < 100; i++) {
            assertSame(first, Jdbc.targetOf(checkout(pooled, proxyReads)));
        }
        assertEquals(1, reads.get(), "the pooled connection's metadata, read once");
        assertEquals(0, proxyReads.get(), "no checkout's metadata read");
        assertSame(pooled, Jdbc.unwrapped(checkout(pooled, proxyReads)));
    }

    @Test
    void two_pools_keep_their_own_databases() {
        AtomicInteger reads = new AtomicInteger();
        Connection orders = driverConnection("jdbc:mariadb://127.0.0.1:3307/orders", reads);
        Connection users = driverConnection("jdbc:postgresql://127.0.0.1/users", reads);
        for (int i = 0; i < 3; i++) {
            assertEquals("orders", Jdbc.targetOf(checkout(orders, reads)).namespace);
            assertEquals("users", Jdbc.targetOf(checkout(users, reads)).namespace);
        }
        assertEquals(2, reads.get());
    }

    @Test
    void a_connection_that_cannot_unwrap_is_read_itself_and_cached() {
        AtomicInteger reads = new AtomicInteger();
        Connection pooled = driverConnection("jdbc:h2:mem:test", reads);
        Connection stubborn = connection((proxy, m, args) -> {
            if (m.getName().equals("unwrap")) {
                throw new SQLException("not a wrapper");
            }
            return m.getName().equals("getMetaData") ? pooled.getMetaData() : null;
        });
        assertSame(stubborn, Jdbc.unwrapped(stubborn));
        assertEquals("h2", Jdbc.targetOf(stubborn).system);
        assertEquals("h2", Jdbc.targetOf(stubborn).system);
        assertEquals(1, reads.get(), "read through the connection itself, once");
    }
}
