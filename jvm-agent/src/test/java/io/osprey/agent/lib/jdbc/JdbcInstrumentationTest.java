package io.osprey.agent.lib.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

class JdbcInstrumentationTest {
    private static byte[] bytes(String name) throws Exception {
        return TestClasses.bytes("/" + name + ".class");
    }

    /** Defines {@code code} as {@code name} in its own loader, so the verifier checks it. */
    private static Class<?> define(final String name, final byte[] code) throws Exception {
        Class<?> c = TestClasses.define(name, code);
        for (Method m : c.getDeclaredMethods()) {
            m.getModifiers(); // forces nothing; verification happened at link time
        }
        return c;
    }

    @Test
    void statementsAreRecognisedByInterfaceAndStillBehave() throws Exception {
        JdbcInstrumentation jdbc = new JdbcInstrumentation();
        byte[] out = jdbc.transform(null, "sample/FakeStatement", new ClassReader(bytes("sample/FakeStatement")));
        assertNotNull(out);
        Class<?> c = define("sample.FakeStatement", out);
        assertTrue(Modifier.isAbstract(c.getModifiers()));
        // A subclass matches through its superclass, seen first.
        assertNotNull(jdbc.transform(null, "sample/SubStatement", subclassOf("sample/FakeStatement")));
        // Unrelated classes are left alone.
        assertNull(jdbc.transform(null, "sample/FakeValve", new ClassReader(bytes("sample/FakeValve"))));
    }

    @Test
    void theOutermostPreparedStatementClassHoldsItsPreparedSql() throws Exception {
        JdbcInstrumentation jdbc = new JdbcInstrumentation();
        final byte[] base = jdbc.transform(null, "sample/FakeStatement", new ClassReader(bytes("sample/FakeStatement")));
        assertNotNull(base);
        // A plain statement class (java.sql.Statement only) is never prepared: no field.
        assertEquals(0, sqlFields(base));
        // Its prepared subclass holds the field...
        final byte[] sub = jdbc.transform(null, "sample/SubStatement", new ClassReader(concreteSubclassOf(
                "sample/SubStatement", "sample/FakeStatement", new String[] {"java/sql/PreparedStatement"})));
        assertNotNull(sub);
        assertEquals(1, sqlFields(sub));
        // ... and a subclass of that inherits it: without execute methods of its own it is left alone.
        assertNull(jdbc.transform(null, "sample/SubSubStatement", new ClassReader(concreteSubclassOf(
                "sample/SubSubStatement", "sample/SubStatement", new String[0]))));
        // A subclass of a plain statement class naming no interface may be prepared: it holds the field.
        byte[] unnamed = jdbc.transform(null, "sample/OtherStatement", new ClassReader(concreteSubclassOf(
                "sample/OtherStatement", "sample/FakeStatement", new String[0])));
        assertEquals(1, sqlFields(unnamed));
        // Both defined in one loader: the subclass's instances hold the SQL through the interface.
        ClassLoader loader = new ClassLoader(getClass().getClassLoader()) {
            @Override
            protected Class<?> findClass(String name) throws ClassNotFoundException {
                byte[] code = name.equals("sample.FakeStatement") ? base
                        : name.equals("sample.SubStatement") ? sub : null;
                if (code == null) {
                    throw new ClassNotFoundException(name);
                }
                return defineClass(name, code, 0, code.length);
            }

            @Override
            protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
                if (name.startsWith("sample.")) {
                    synchronized (getClassLoadingLock(name)) {
                        Class<?> c = findLoadedClass(name);
                        return c != null ? c : findClass(name);
                    }
                }
                return super.loadClass(name, resolve);
            }
        };
        Class<?> c = Class.forName("sample.SubStatement", true, loader);
        Object statement = c.getDeclaredConstructor().newInstance();
        assertTrue(statement instanceof PreparedSql);
        PreparedSql held = (PreparedSql) statement;
        assertNull(held.osprey$sql());
        held.osprey$setSql("SELECT 1");
        assertEquals("SELECT 1", held.osprey$sql());
        java.lang.reflect.Field f = c.getDeclaredField("osprey$sql");
        assertTrue(Modifier.isPrivate(f.getModifiers()) && Modifier.isTransient(f.getModifiers())
                && f.isSynthetic());
        // The statement still behaves: execute() runs its own body.
        Method execute = c.getMethod("execute");
        assertEquals(Boolean.TRUE, execute.invoke(statement));
        assertEquals(1, c.getField("calls").getInt(statement));

        // A serializable statement class keeps its shape (and serialVersionUID): no field.
        JdbcInstrumentation fresh = new JdbcInstrumentation();
        byte[] serializable = fresh.transform(null, "sample/SerialStatement", new ClassReader(concreteSubclassOf(
                "sample/SerialStatement", "java/lang/Object",
                new String[] {"java/sql/PreparedStatement", "java/io/Serializable"})));
        assertNotNull(serializable);
        assertEquals(0, sqlFields(serializable));
    }

    /** How many {@code osprey$sql} fields the class declares. */
    private static int sqlFields(byte[] code) {
        final int[] n = {0};
        new ClassReader(code).accept(new org.objectweb.asm.ClassVisitor(org.objectweb.asm.Opcodes.ASM9) {
            @Override
            public org.objectweb.asm.FieldVisitor visitField(int access, String name, String desc, String sig,
                    Object value) {
                if (name.equals("osprey$sql")) {
                    n[0]++;
                }
                return null;
            }
        }, 0);
        return n[0];
    }

    /**
     * A concrete class {@code name} of {@code superName} with a no-argument constructor (of {@code
     * Object}: and {@code execute()}).
     */
    private static byte[] concreteSubclassOf(String name, String superName, String[] interfaces) {
        org.objectweb.asm.ClassWriter w = new org.objectweb.asm.ClassWriter(0);
        w.visit(org.objectweb.asm.Opcodes.V1_8, org.objectweb.asm.Opcodes.ACC_PUBLIC, name, null, superName,
                interfaces);
        org.objectweb.asm.MethodVisitor init = w.visitMethod(org.objectweb.asm.Opcodes.ACC_PUBLIC, "<init>", "()V",
                null, null);
        init.visitCode();
        init.visitVarInsn(org.objectweb.asm.Opcodes.ALOAD, 0);
        init.visitMethodInsn(org.objectweb.asm.Opcodes.INVOKESPECIAL, superName, "<init>", "()V", false);
        init.visitInsn(org.objectweb.asm.Opcodes.RETURN);
        init.visitMaxs(1, 1);
        init.visitEnd();
        if (!superName.equals("java/lang/Object")) {
            w.visitEnd();
            return w.toByteArray();
        }
        addExecuteReturningTrue(w);
        w.visitEnd();
        return w.toByteArray();
    }

    @Test
    void connectionsAreRecognisedAndVerify() throws Exception {
        JdbcInstrumentation jdbc = new JdbcInstrumentation();
        byte[] out = jdbc.transform(null, "sample/FakeConnection", new ClassReader(bytes("sample/FakeConnection")));
        assertNotNull(out);
        define("sample.FakeConnection", out);
    }

    @Test
    void helpersNeverThrowWhenOff() {
        assertEquals(0L, Jdbc.enter(new Object(), "SELECT 1"));
        Jdbc.exit(0L);
        Jdbc.prepared(null, null);
    }

    @Test
    void pathsAndSystems() {
        assertEquals("h2", Jdbc.fromUrl("jdbc:h2:mem:x;USER=sa;PASSWORD=pw"));
        assertEquals("postgresql", Jdbc.fromUrl("jdbc:postgresql://u:p@h/db"));
        assertEquals("mssql", Jdbc.fromUrl("jdbc:sqlserver://h"));
        assertNull(Jdbc.fromUrl("mysql://h"));
        assertTarget("h2", null, -1, null, "jdbc:h2:mem:x;USER=sa;PASSWORD=pw");
        assertTarget("h2", "db.local", 9092, "~/test", "jdbc:h2:tcp://db.local:9092/~/test;PASSWORD=pw");
        assertTarget("postgresql", "h", -1, "db", "jdbc:postgresql://u:p@h/db");
        assertTarget("postgresql", "10.0.0.5", 5432, "shop", "jdbc:postgresql://10.0.0.5:5432/shop?password=x");
        assertTarget("postgresql", "h", 5432, null, "jdbc:postgresql://h:5432/?password=x");
        assertTarget("mysql", "[::1]", 3306, "shop", "jdbc:mysql://root:pw@[::1]:3306/shop");
        assertTarget("mariadb", "127.0.0.1", 3306, "shop", "jdbc:mariadb://127.0.0.1:3306/shop?user=root&password=pw");
        assertTarget("mssql", "sql.acme", 1433, "x", "jdbc:sqlserver://sql.acme:1433;databaseName=x;password=pw");
        assertTarget("oracle", "ora", 1521, "ORCL", "jdbc:oracle:thin:scott/tiger@ora:1521:ORCL");
        assertTarget("oracle", "ora", 1522, "svc", "jdbc:oracle:thin:@//ora:1522/svc");
        assertTarget("other_sql", null, -1, null, "not a url");
    }

    @Test
    void whatOneLoaderTaughtStaysInItsLoaderAndItsChildren() throws Exception {
        JdbcInstrumentation jdbc = new JdbcInstrumentation();
        ClassLoader appA = new ClassLoader(null) {};
        ClassLoader appB = new ClassLoader(null) {};
        ClassLoader childOfA = new ClassLoader(appA) {};
        // Application A's sample/Base is a statement class; application B's class of that name is not.
        assertNotNull(jdbc.transform(appA, "sample/Base", plainClass("sample/Base", "java/lang/Object",
                new String[] {"java/sql/PreparedStatement"})));
        assertNull(jdbc.transform(appB, "sample/Base", plainClass("sample/Base", "java/lang/Object", null)));
        // So B's subclass is left alone, while A's (and one in a loader delegating to A) match.
        assertNull(jdbc.transform(appB, "sample/SubStatement", subclassOf("sample/Base")));
        assertNotNull(jdbc.transform(appA, "sample/SubStatement", subclassOf("sample/Base")));
        assertNotNull(jdbc.transform(childOfA, "sample/Other", concreteReader("sample/Other", "sample/Base")));
    }

    private static ClassReader plainClass(String name, String superName, String[] interfaces) {
        org.objectweb.asm.ClassWriter w = new org.objectweb.asm.ClassWriter(0);
        w.visit(org.objectweb.asm.Opcodes.V1_8, org.objectweb.asm.Opcodes.ACC_PUBLIC, name, null, superName,
                interfaces);
        addExecuteReturningTrue(w);
        w.visitEnd();
        return new ClassReader(w.toByteArray());
    }

    private static ClassReader concreteReader(String name, String superName) {
        return plainClass(name, superName, null);
    }

    /** Adds {@code public boolean execute() { return true; }}. */
    private static void addExecuteReturningTrue(org.objectweb.asm.ClassWriter w) {
        org.objectweb.asm.MethodVisitor mv = w.visitMethod(org.objectweb.asm.Opcodes.ACC_PUBLIC, "execute",
                "()Z", null, null);
        mv.visitCode();
        mv.visitInsn(org.objectweb.asm.Opcodes.ICONST_1);
        mv.visitInsn(org.objectweb.asm.Opcodes.IRETURN);
        mv.visitMaxs(1, 1);
        mv.visitEnd();
    }

    @Test
    void aConnectionNamingOnlyTheDriversOwnInterfaceMatchesThroughItsClassFile() throws Exception {
        // As PostgreSQL's PgConnection implements BaseConnection extends PGConnection, Connection.
        final java.util.Map<String, byte[]> files = new java.util.HashMap<String, byte[]>();
        files.put("vendor/PGConnection.class", iface("vendor/PGConnection"));
        files.put("vendor/BaseConnection.class", iface("vendor/BaseConnection", "vendor/PGConnection",
                "java/sql/Connection"));
        ClassLoader withFiles = new ClassLoader(null) {
            @Override
            public java.io.InputStream getResourceAsStream(String name) {
                byte[] b = files.get(name);
                return b == null ? null : new java.io.ByteArrayInputStream(b);
            }
        };
        byte[] conn = connectionImplementing("vendor/BaseConnection");
        assertNotNull(new JdbcInstrumentation().transform(withFiles, "vendor/PgConnection", new ClassReader(conn)));
        // Without the interface's class file nothing says it is a connection.
        ClassLoader without = new ClassLoader(null) {};
        assertNull(new JdbcInstrumentation().transform(without, "vendor/PgConnection", new ClassReader(conn)));
        // Nor does an interface extending none of JDBC's.
        files.put("vendor/BaseConnection.class", iface("vendor/BaseConnection", "vendor/PGConnection"));
        assertNull(new JdbcInstrumentation().transform(withFiles, "vendor/PgConnection", new ClassReader(conn)));
    }

    private static byte[] iface(String name, String... extended) {
        org.objectweb.asm.ClassWriter w = new org.objectweb.asm.ClassWriter(0);
        w.visit(org.objectweb.asm.Opcodes.V1_8, org.objectweb.asm.Opcodes.ACC_PUBLIC
                | org.objectweb.asm.Opcodes.ACC_INTERFACE | org.objectweb.asm.Opcodes.ACC_ABSTRACT, name, null,
                "java/lang/Object", extended);
        w.visitEnd();
        return w.toByteArray();
    }

    private static byte[] connectionImplementing(String iface) {
        org.objectweb.asm.ClassWriter w = new org.objectweb.asm.ClassWriter(0);
        w.visit(org.objectweb.asm.Opcodes.V1_8, org.objectweb.asm.Opcodes.ACC_PUBLIC
                | org.objectweb.asm.Opcodes.ACC_ABSTRACT, "vendor/PgConnection", null, "java/lang/Object",
                new String[] {iface});
        MethodVisitor mv = w.visitMethod(org.objectweb.asm.Opcodes.ACC_PUBLIC, "prepareStatement",
                "(Ljava/lang/String;)Ljava/sql/PreparedStatement;", null, null);
        mv.visitCode();
        mv.visitInsn(org.objectweb.asm.Opcodes.ACONST_NULL);
        mv.visitInsn(org.objectweb.asm.Opcodes.ARETURN);
        mv.visitMaxs(1, 2);
        mv.visitEnd();
        w.visitEnd();
        return w.toByteArray();
    }

    private static ClassReader subclassOf(String superName) {
        org.objectweb.asm.ClassWriter w = new org.objectweb.asm.ClassWriter(0);
        w.visit(org.objectweb.asm.Opcodes.V1_8, org.objectweb.asm.Opcodes.ACC_PUBLIC
                | org.objectweb.asm.Opcodes.ACC_ABSTRACT, "sample/SubStatement", null, superName, null);
        addExecuteReturningTrue(w);
        w.visitEnd();
        return new ClassReader(w.toByteArray());
    }

    private static void assertTarget(String system, String host, int port, String namespace, String url) {
        Jdbc.DbTarget t = Jdbc.DbTarget.parse(url);
        assertEquals(system, t.system, url);
        assertEquals(namespace, t.namespace, url);
        assertFalse(String.valueOf(t.namespace).contains("pw") || String.valueOf(t.namespace).contains("tiger"), url);
        assertEquals(host, t.host, url);
        assertEquals(port, t.port, url);
        assertFalse(String.valueOf(t.host).contains("pw") || String.valueOf(t.host).contains("tiger"), url);
    }
}
