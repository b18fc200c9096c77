package io.osprey.agent.bootstrap;

import java.lang.reflect.Method;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * SQL steps for the JDBC instrumentation. Statements arrive as {@code Object}: {@code java.sql}
 * belongs to the platform class loader, which classes on the boot class path cannot see. Bind
 * values are never read; the connection URL is read once per statement class, and only its
 * {@code jdbc:<system>:} prefix is kept. Nothing here throws.
 */
public final class Jdbc {
    /** Prepared statements not yet garbage-collected: statement → SQL. Bounded. */
    private static final Map<Object, String> PREPARED =
            Collections.synchronizedMap(new WeakHashMap<Object, String>());
    private static final int MAX_PREPARED = 10000;

    /** SQL text → interned step name id. Bounded; the recorder's name table is bounded too. */
    private static final Map<String, Integer> NAME_IDS = new HashMap<String, Integer>();
    private static final int MAX_NAME_IDS = 4096;

    /** Statement class → db.system ("other_sql" when unknown). Weak keys. */
    private static final Map<Class<?>, String> SYSTEMS =
            Collections.synchronizedMap(new WeakHashMap<Class<?>, String>());

    /** Set while a SQL step is open on this thread: a driver calling itself is one step. */
    private static final ThreadLocal<boolean[]> ACTIVE = new ThreadLocal<boolean[]>() {
        @Override
        protected boolean[] initialValue() {
            return new boolean[1];
        }
    };

    private static int kSystem = -1;
    private static int kStatement = -1;

    private Jdbc() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kSystem = OspreyNative.intern("db.system");
        kStatement = OspreyNative.intern("db.statement");
    }

    /** After {@code Connection.prepareStatement/prepareCall(sql, ...)} returned {@code statement}. */
    public static void prepared(Object statement, String sql) {
        if (!Osprey.enabled || statement == null || sql == null) {
            return;
        }
        try {
            if (PREPARED.size() < MAX_PREPARED) {
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
        if (!Osprey.enabled || statement == null) {
            return 0L;
        }
        try {
            boolean[] active = ACTIVE.get();
            if (active[0]) {
                return 0L;
            }
            String text = sql != null ? sql : PREPARED.get(statement);
            if (text == null) {
                return 0L;
            }
            int id = nameId(text);
            if (id < 0) {
                return 0L;
            }
            String system = system(statement);
            long h = OspreyNative.enter(id, OspreyNative.STEP_SQL);
            if (h == 0L) {
                return 0L;
            }
            active[0] = true;
            // Entered: from here on the handle must reach exit, whatever happens.
            try {
                OspreyNative.attrStr(h, kSystem, system);
                OspreyNative.attrStr(h, kStatement, text);
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
        if (handle == 0L) {
            return;
        }
        try {
            ACTIVE.get()[0] = false;
        } catch (Throwable ignored) {
            // never into the application
        }
        Osprey.exit(handle);
    }

    /** Exceptional exit: records {@code thrown} on the step; the caller rethrows. */
    public static void exitError(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        Osprey.recordError(handle, thrown);
        exit(handle);
    }

    private static int nameId(String sql) {
        synchronized (NAME_IDS) {
            Integer id = NAME_IDS.get(sql);
            if (id != null) {
                return id;
            }
            int fresh = OspreyNative.intern(sql);
            if (NAME_IDS.size() < MAX_NAME_IDS) {
                NAME_IDS.put(sql, fresh);
            }
            return fresh;
        }
    }

    /** {@code db.system} of the statement's driver, from its connection URL; cached per class. */
    static String system(Object statement) {
        Class<?> c = statement.getClass();
        String known = SYSTEMS.get(c);
        if (known != null) {
            return known;
        }
        String system = "other_sql";
        try {
            Object conn = invoke(statement, "getConnection");
            Object meta = conn == null ? null : invoke(conn, "getMetaData");
            Object url = meta == null ? null : invoke(meta, "getURL");
            String fromUrl = url == null ? null : fromUrl(url.toString());
            if (fromUrl != null) {
                system = fromUrl;
            }
        } catch (Throwable ignored) {
            // keep other_sql
        }
        SYSTEMS.put(c, system);
        return system;
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

    private static Object invoke(Object target, String name) throws Exception {
        Method m = target.getClass().getMethod(name);
        return m.invoke(target);
    }
}
