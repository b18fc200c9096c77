package io.osprey.agent.lib.jdbc;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.ReentryGuard;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * SQL steps for the JDBC instrumentation. Statements arrive as {@code Object}: {@code java.sql}
 * belongs to the platform class loader, which classes on the boot class path cannot see. Bind
 * values are never read; the connection URL is read once per connection, and only its {@code
 * jdbc:<system>:} prefix and its server host and port are kept (never user, password or
 * properties). Nothing here throws.
 */
public final class Jdbc {
    /**
     * Prepared statements not yet garbage-collected: statement → SQL, for statement classes that
     * do not hold it themselves ({@link PreparedSql}). Bounded.
     */
    private static final Map<Object, String> PREPARED =
            Collections.synchronizedMap(new WeakHashMap<Object, String>());
    private static final int MAX_PREPARED = 10000;

    /**
     * Prepared SQL text → interned step name id. Prepared statements come from the application's
     * code, so their texts are few; bounded all the same (past the bound each execution interns,
     * which the name table answers from its own map). Plain statements' SQL may carry literals and
     * is never kept here: it goes to {@link OspreyNative#enterName}, which sanitises it first.
     */
    private static final Map<String, Integer> NAME_IDS = new ConcurrentHashMap<String, Integer>();
    private static final int MAX_NAME_IDS = 4096;

    /** Connection → what its URL says. Weak keys. */
    private static final Map<Object, DbTarget> TARGETS =
            Collections.synchronizedMap(new WeakHashMap<Object, DbTarget>());
    private static final DbTarget UNKNOWN = new DbTarget("other_sql", null, -1, null);
    /** Name of a batch of a plain statement (each {@code addBatch(sql)} may differ). */
    private static final String BATCH = "BATCH";

    /** Set while a SQL step is open on this thread: a driver calling itself is one step. */
    private static final ReentryGuard GUARD = new ReentryGuard();

    private static int kSystem = -1;
    private static int kOperation = -1;
    private static int kAddress = -1;
    private static int kPort = -1;
    private static int kNamespace = -1;

    private Jdbc() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kSystem = OspreyNative.intern("db.system");
        kOperation = OspreyNative.intern("db.operation.name");
        kAddress = OspreyNative.intern("server.address");
        kPort = OspreyNative.intern("server.port");
        kNamespace = OspreyNative.intern("db.namespace");
    }

    /** After {@code Connection.prepareStatement/prepareCall(sql, ...)} returned {@code statement}. */
    public static void prepared(Object statement, String sql) {
        if (!Osprey.enabled || statement == null || sql == null) {
            return;
        }
        try {
            if (statement instanceof PreparedSql) {
                ((PreparedSql) statement).osprey$setSql(sql);
            } else if (PREPARED.size() < MAX_PREPARED) {
                PREPARED.put(statement, sql);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * Entry of a {@code Statement.execute*} method: {@code sql} is its argument, or null for a
     * prepared statement's own SQL. Returns the step handle (0: no step).
     */
    public static long enter(Object statement, String sql) {
        return enter(statement, sql, false);
    }

    /**
     * Entry of {@code executeBatch}/{@code executeLargeBatch}: a prepared statement's batch is
     * named with its SQL, a plain statement's {@code BATCH}. Returns the step handle (0: no step).
     */
    public static long enterBatch(Object statement) {
        return enter(statement, null, true);
    }

    private static long enter(Object statement, String sql, boolean batch) {
        if (!Osprey.enabled || statement == null) {
            return 0L;
        }
        try {
            if (GUARD.held()) {
                return 0L;
            }
            String text = sql;
            if (text == null) {
                text = statement instanceof PreparedSql ? ((PreparedSql) statement).osprey$sql()
                        : PREPARED.get(statement);
            }
            if (text == null && batch) {
                text = BATCH;
            }
            if (text == null) {
                return 0L;
            }
            DbTarget target = target(statement);
            long h;
            if (sql != null) {
                // A plain statement's SQL: literals and all; sanitised and interned natively.
                h = OspreyNative.enterName(text, OspreyNative.STEP_SQL);
            } else {
                int id = nameId(text);
                if (id < 0) {
                    return 0L;
                }
                h = id < OspreyNative.OVERFLOW_IDS ? OspreyNative.enterName(text, OspreyNative.STEP_SQL)
                        : OspreyNative.enter(id, OspreyNative.STEP_SQL);
            }
            if (h == 0L) {
                return 0L;
            }
            GUARD.hold();
            // Entered: from here on the handle must reach exit, whatever happens.
            try {
                target.intern();
                ValueNames.attr(h, kSystem, target.system, target.systemId);
                // The statement is the step's name: exporters give it as db.statement. A plain
                // statements' batch has no single statement; its operation says so instead.
                if (text == BATCH) {
                    ValueNames.attr(h, kOperation, BATCH);
                }
                ValueNames.attr(h, kNamespace, target.namespace, target.namespaceId);
                ValueNames.attr(h, kAddress, target.host, target.hostId);
                if (target.port > 0) {
                    OspreyNative.attrLong(h, kPort, target.port);
                }
            } catch (Throwable ignored) {
                // attributes are best effort
            }
            return h;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Normal exit of the step {@link #enter} returned. */
    public static void exit(long handle) {
        GUARD.exit(handle);
    }

    /** Exceptional exit: records {@code thrown} on the step; the caller rethrows. */
    public static void exitError(Throwable thrown, long handle) {
        GUARD.exitError(thrown, handle);
    }

    /**
     * The step name id of prepared SQL. The native call takes the name table's lock, so it is made
     * outside any Java lock (no {@code computeIfAbsent}): two threads racing on a new text both
     * intern it and get the same id. Overflow ids are not kept (the table may have room later for
     * nothing, but a cached overflow id would hide the text for good).
     */
    private static int nameId(String sql) {
        Integer id = NAME_IDS.get(sql);
        if (id != null) {
            return id;
        }
        int fresh = OspreyNative.internStep(sql, OspreyNative.STEP_SQL);
        if (fresh >= OspreyNative.OVERFLOW_IDS && NAME_IDS.size() < MAX_NAME_IDS) {
            NAME_IDS.put(sql, fresh);
        }
        return fresh;
    }

    /** What the statement's connection URL says; cached per connection. */
    static DbTarget target(Object statement) {
        Object conn;
        try {
            conn = connection(statement);
        } catch (Throwable t) {
            return UNKNOWN;
        }
        return conn == null ? UNKNOWN : targetOf(conn);
    }

    /** What {@code conn}'s URL says; cached per (pooled) connection. */
    static DbTarget targetOf(Object conn) {
        DbTarget known = TARGETS.get(conn);
        if (known != null) {
            return known;
        }
        // A pool's connection is a new proxy per checkout (HikariCP, Spring Boot's default):
        // keyed by the pooled connection it wraps, the cache hits on every request.
        Object pooled = unwrapped(conn);
        if (pooled != conn) {
            known = TARGETS.get(pooled);
            if (known != null) {
                return known;
            }
            conn = pooled;
        }
        DbTarget target = UNKNOWN;
        try {
            Object meta = invoke(conn, "getMetaData");
            Object url = meta == null ? null : invoke(meta, "getURL");
            if (url != null) {
                target = DbTarget.parse(url.toString());
            }
        } catch (Throwable ignored) {
            // unknown
        }
        if (TARGETS.size() < MAX_PREPARED) {
            TARGETS.put(conn, target);
        }
        return target;
    }

    /** {@code jdbc:h2:mem:x} → {@code h2}; nothing after the second colon is kept. */
    public static String fromUrl(String url) {
        if (!url.regionMatches(true, 0, "jdbc:", 0, 5)) {
            return null;
        }
        int end = url.indexOf(':', 5);
        if (end <= 5) {
            return null;
        }
        String sub = url.substring(5, end).toLowerCase(java.util.Locale.ROOT);
        if (sub.equals("sqlserver")) {
            return "mssql";
        }
        return sub;
    }

    /** {@code db.system}, server host and port of a JDBC URL. */
    public static final class DbTarget {
        /** {@code db.system}: {@code h2}, {@code postgresql}, ...; {@code other_sql} if unknown. */
        public final String system;
        /** The server's host (name or address); null for embedded databases. */
        public final String host;
        /** The server's port; -1 when the URL names none. */
        public final int port;
        /**
         * {@code db.namespace}: the database the URL names (its path, SQL Server's {@code
         * databaseName}, Oracle's service or SID); null when it names none.
         */
        public final String namespace;
        /** Value ids of {@link #system}, {@link #host} and {@link #namespace} ({@link ValueNames}); set by {@link #intern}. */
        int systemId = -1;
        int hostId = -1;
        int namespaceId = -1;
        private volatile boolean interned;

        DbTarget(String system, String host, int port, String namespace) {
            this.system = system;
            this.host = host;
            this.port = port;
            this.namespace = namespace;
        }

        /** Interns the values once; until then (or when refused) they are recorded as text. */
        void intern() {
            if (!interned) {
                systemId = ValueNames.id(system);
                hostId = ValueNames.id(host);
                namespaceId = ValueNames.id(namespace);
                interned = true;
            }
        }

        /**
         * Parses {@code jdbc:<system>:...}: the host and port of a {@code //host:port/...}
         * authority (user info before {@code @} dropped; {@code [v6]} addresses kept whole), or of
         * Oracle's {@code @host:port:sid} / {@code @//host:port/service}. Embedded databases (H2
         * {@code mem:}/files, Derby, SQLite) have no server.
         */
        public static DbTarget parse(String url) {
            String system = fromUrl(url);
            if (system == null) {
                return UNKNOWN;
            }
            String rest = url.substring(url.indexOf(':', 5) + 1);
            String authority = null;
            int slashes = rest.indexOf("//");
            int at = rest.indexOf('@');
            if (at >= 0 && (slashes < 0 || at < slashes)) {
                // Oracle thin: user/password@host:port:sid or @//host:port/service
                authority = rest.substring(at + 1);
                if (authority.startsWith("//")) {
                    authority = authority.substring(2);
                }
            } else if (slashes >= 0) {
                authority = rest.substring(slashes + 2);
            }
            if (authority == null) {
                return new DbTarget(system, null, -1, null);
            }
            int end = authority.length();
            for (char c : new char[] {'/', ';', '?', ',', ')'}) {
                int i = authority.indexOf(c);
                if (i >= 0 && i < end) {
                    end = i;
                }
            }
            String namespace = namespace(authority.substring(end), rest, system.equals("h2"));
            authority = authority.substring(0, end);
            int userInfo = authority.lastIndexOf('@');
            if (userInfo >= 0) {
                authority = authority.substring(userInfo + 1);
            }
            String host = authority;
            int port = -1;
            int colon = authority.startsWith("[") ? authority.indexOf(':', authority.indexOf(']'))
                    : authority.indexOf(':');
            if (colon >= 0) {
                host = authority.substring(0, colon);
                String p = authority.substring(colon + 1);
                int digits = 0;
                while (digits < p.length() && Character.isDigit(p.charAt(digits))) {
                    digits++;
                }
                if (digits > 0 && digits <= 5) {
                    port = Integer.parseInt(p.substring(0, digits));
                }
                // Oracle's host:port:SID
                if (digits < p.length() && p.charAt(digits) == ':' && namespace == null) {
                    namespace = name(p.substring(digits + 1));
                }
            }
            return new DbTarget(system, host.isEmpty() ? null : host, port, namespace);
        }

        /**
         * The database named after the authority ({@code /shop?...}), or by a {@code
         * databaseName=}/{@code database=} property (SQL Server); never anything else of the URL.
         * H2's database over TCP is a file path ({@code filePath}): kept whole.
         */
        private static String namespace(String afterAuthority, String rest, boolean filePath) {
            if (afterAuthority.startsWith("/")) {
                String path = afterAuthority.substring(1);
                int semi = path.indexOf(';');
                String db = filePath ? (semi == 0 ? null : semi > 0 ? path.substring(0, semi) : path)
                        : name(path);
                if (db != null) {
                    return db;
                }
            }
            String lower = rest.toLowerCase(java.util.Locale.ROOT);
            for (String key : new String[] {";databasename=", ";database="}) {
                int i = lower.indexOf(key);
                if (i >= 0) {
                    return name(rest.substring(i + key.length()));
                }
            }
            return null;
        }

        /** The leading name of {@code s}, up to a separator; null when empty. */
        private static String name(String s) {
            int end = 0;
            while (end < s.length() && "/;?&,)@:".indexOf(s.charAt(end)) < 0) {
                end++;
            }
            return end == 0 ? null : s.substring(0, end);
        }
    }

    /** Statement class → its {@code getConnection()} as {@code (Object)Object}. Weak keys. */
    private static final Map<Class<?>, MethodHandle> GET_CONNECTION =
            Collections.synchronizedMap(new WeakHashMap<Class<?>, MethodHandle>());

    /** {@code statement.getConnection()}, through a handle found once per class (no allocation). */
    private static Object connection(Object statement) throws Throwable {
        Class<?> c = statement.getClass();
        MethodHandle h = GET_CONNECTION.get(c);
        if (h == null) {
            Method m = Reflection.publicMethod(c, "getConnection");
            if (m == null) {
                return null;
            }
            h = MethodHandles.publicLookup().unreflect(m).asType(MethodType.methodType(Object.class, Object.class));
            GET_CONNECTION.put(c, h);
        }
        return (Object) h.invokeExact(statement);
    }

    /**
     * Connection class → its {@code unwrap(Class)} as {@code (Object,Object)Object} and the
     * {@code java.sql.Connection} it is called with; {@link #NO_UNWRAP} when it has none. Weak keys.
     */
    private static final Map<Class<?>, Object[]> UNWRAP =
            Collections.synchronizedMap(new WeakHashMap<Class<?>, Object[]>());
    private static final Object[] NO_UNWRAP = new Object[0];

    /**
     * The connection {@code conn} wraps, by {@code conn.unwrap(Connection.class)} (a HikariCP
     * proxy gives its pooled connection; a driver's connection and pools that answer with the
     * proxy itself give {@code conn}); {@code conn} when that fails. A handle found once per class.
     */
    static Object unwrapped(Object conn) {
        try {
            Class<?> c = conn.getClass();
            Object[] unwrap = UNWRAP.get(c);
            if (unwrap == null) {
                unwrap = NO_UNWRAP;
                try {
                    // The interface's method (java.sql is exported): dispatches to any class.
                    Class<?> iface = connectionInterface(c);
                    if (iface != null) {
                        MethodHandle h = MethodHandles.publicLookup()
                                .unreflect(iface.getMethod("unwrap", Class.class))
                                .asType(MethodType.methodType(Object.class, Object.class, Object.class));
                        unwrap = new Object[] {h, iface};
                    }
                } catch (Throwable t) {
                    // no unwrapping for this class
                }
                UNWRAP.put(c, unwrap);
            }
            if (unwrap == NO_UNWRAP) {
                return conn;
            }
            Object inner = (Object) ((MethodHandle) unwrap[0]).invokeExact(conn, unwrap[1]);
            return inner != null ? inner : conn;
        } catch (Throwable t) {
            return conn;
        }
    }

    /** {@code java.sql.Connection} as {@code type}'s class loader sees it, if it implements it. */
    private static Class<?> connectionInterface(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                if (i.getName().equals("java.sql.Connection")) {
                    return i;
                }
                Class<?> inherited = connectionInterface(i);
                if (inherited != null) {
                    return inherited;
                }
            }
        }
        return null;
    }

    private static Object invoke(Object target, String name) throws Exception {
        Method m = jdbcMethod(target.getClass(), name);
        if (m == null) {
            m = Reflection.publicMethod(target.getClass(), name);
        }
        return m == null ? null : m.invoke(target);
    }

    /**
     * {@code name()} as a {@code java.sql} interface of {@code type} declares it: callable on
     * any implementation, whether or not its own class is accessible.
     */
    private static Method jdbcMethod(Class<?> type, String name) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                if (i.getName().startsWith("java.sql.")) {
                    try {
                        return i.getMethod(name);
                    } catch (NoSuchMethodException e) {
                        // another interface may have it
                    }
                }
            }
        }
        return null;
    }
}
