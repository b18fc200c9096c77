package io.osprey.agent.lib.jdbc;

import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import io.osprey.agent.lib.PerLoader;
import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * JDBC: {@code execute*} methods of statement implementations become SQL steps named with their
 * SQL; {@code prepareStatement/prepareCall(String, ...)} of connection implementations remember
 * each prepared statement's SQL for its {@code execute()}.
 *
 * <p>Classes are recognised without loading anything: a class matches when its direct interfaces
 * include {@code java.sql.Statement}, {@code PreparedStatement}, {@code CallableStatement} (or
 * {@code java.sql.Connection}), or a driver's own interface that extends one of them (read from its
 * class file through the class's loader, as PostgreSQL's {@code PgConnection implements
 * BaseConnection}), or when its superclass matched earlier. A driver class that only inherits the
 * interface from a superclass not yet seen is not instrumented.
 *
 * <p>The outermost instrumented statement class of a hierarchy that may be prepared also gets a
 * field for the SQL it was prepared with and implements {@link PreparedSql}
 * to reach it, so that remembering a prepared statement's SQL allocates nothing (statements of
 * other classes are remembered in a weak map). A class naming {@code java.sql.Statement} and no
 * prepared interface is a plain statement, never prepared: it is left its size (one field more
 * makes many objects 8 bytes bigger), and its subclasses get the field instead. Serializable
 * classes are left without it: a new field would change their computed {@code serialVersionUID}.
 */
public final class JdbcInstrumentation extends LibraryInstrumentation {
    static final String JDBC = "io/osprey/agent/lib/jdbc/Jdbc";
    private static final Set<String> STATEMENT_INTERFACES = new HashSet<String>(java.util.Arrays.asList(
            "java/sql/Statement", "java/sql/PreparedStatement", "java/sql/CallableStatement"));
    private static final String CONNECTION_TYPE = "java/sql/Connection";
    static final String PREPARED_SQL_TYPE = "io/osprey/agent/lib/jdbc/PreparedSql";
    private static final String SQL_FIELD = "osprey$sql";
    private static final String STRING = "Ljava/lang/String;";

    /**
     * Per class loader: the classes matched so far, so that their subclasses match too, and the
     * statement classes given the SQL field (their subclasses inherit it). A class's superclass
     * may come from its loader or any parent, so lookups walk the parents.
     */
    private final PerLoader<Matched> matched = new PerLoader<Matched>() {
        @Override
        protected Matched create() {
            return new Matched();
        }
    };

    /** What one loader's classes taught. */
    static final class Matched {
        final Set<String> statements = Collections.newSetFromMap(new ConcurrentHashMap<String, Boolean>());
        final Set<String> connections = Collections.newSetFromMap(new ConcurrentHashMap<String, Boolean>());
        final Set<String> holders = Collections.newSetFromMap(new ConcurrentHashMap<String, Boolean>());
        /** Interface → the JDBC interfaces it extends ({@link #interfaceKinds}); 0 for none. */
        final Map<String, Integer> interfaces = new ConcurrentHashMap<String, Integer>();
    }

    /** Bits of {@link #interfaceKinds}. */
    static final int STATEMENT = 1;
    static final int CONNECTION = 2;
    static final int PLAIN = 4;
    static final int PREPARED = 8;

    /**
     * The JDBC interfaces the interface {@code name} is or extends, as {@link #STATEMENT} | {@link
     * #CONNECTION} | {@link #PLAIN} | {@link #PREPARED} bits, reading class files through {@code
     * loader} (no class is loaded); remembered per loader. Platform interfaces other than JDBC's
     * are 0 without a look.
     */
    int interfaceKinds(ClassLoader loader, String name, int depth) {
        if (STATEMENT_INTERFACES.contains(name) || CONNECTION_TYPE.equals(name)) {
            return CONNECTION_TYPE.equals(name) ? CONNECTION
                    : STATEMENT | ("java/sql/Statement".equals(name) ? PLAIN : PREPARED);
        }
        if (loader == null || depth > 8 || name.startsWith("java/") || name.startsWith("javax/")
                || name.startsWith("jdk/") || name.startsWith("sun/")) {
            return 0;
        }
        Matched m = matched.of(loader);
        Integer known = m.interfaces.get(name);
        if (known != null) {
            return known;
        }
        int kinds = 0;
        try {
            java.io.InputStream in = loader.getResourceAsStream(name + ".class");
            if (in != null) {
                try {
                    ClassReader r = new ClassReader(in);
                    if ((r.getAccess() & Opcodes.ACC_INTERFACE) != 0) {
                        for (String i : r.getInterfaces()) {
                            kinds |= interfaceKinds(loader, i, depth + 1);
                        }
                    }
                } finally {
                    in.close();
                }
            }
        } catch (Throwable t) {
            kinds = 0;
        }
        if (m.interfaces.size() < 10000) {
            m.interfaces.put(name, kinds);
        }
        return kinds;
    }

    /** Whether {@code name} is a class of kind 1 (statement), 2 (connection) or 3 (SQL holder) matched in {@code loader} or a parent. */
    private boolean known(ClassLoader loader, String name, int kind) {
        ClassLoader l = loader;
        for (int depth = 0; depth < 32; depth++) {
            Matched m = matched.of(l);
            Set<String> set = kind == 1 ? m.statements : kind == 2 ? m.connections : m.holders;
            if (set.contains(name)) {
                return true;
            }
            if (l == null) {
                return false;
            }
            try {
                l = l.getParent();
            } catch (Throwable t) {
                return false;
            }
        }
        return false;
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        String superName = reader.getSuperName();
        boolean statement = known(loader, superName, 1);
        boolean connection = known(loader, superName, 2);
        boolean serializable = false;
        boolean plain = false;
        boolean prepared = false;
        // A driver's own interfaces are read only for a class that declares JDBC's methods: most
        // classes never cost a class-file read.
        int candidate = -1; // unknown until a class names an interface of its own
        for (String i : reader.getInterfaces()) {
            serializable |= "java/io/Serializable".equals(i);
            if (!i.startsWith("java/") && candidate < 0) {
                candidate = declaresJdbcMethods(reader) ? 1 : 0;
            }
            int kinds = candidate == 1 || i.startsWith("java/") ? interfaceKinds(loader, i, 0) : 0;
            statement |= (kinds & STATEMENT) != 0;
            connection |= (kinds & CONNECTION) != 0;
            plain |= (kinds & PLAIN) != 0;
            prepared |= (kinds & PREPARED) != 0;
        }
        Matched mine = matched.of(loader);
        if (statement) {
            mine.statements.add(internalName);
            boolean inherits = known(loader, superName, 3);
            boolean hold = !inherits && !serializable && (prepared || !plain)
                    && (reader.getAccess() & Opcodes.ACC_INTERFACE) == 0;
            byte[] out = rewriteStatement(reader, hold);
            if (out != null && (inherits || hold)) {
                mine.holders.add(internalName);
            }
            return out;
        }
        if (connection) {
            mine.connections.add(internalName);
            return rewriteConnection(reader);
        }
        return null;
    }

    /**
     * Whether the class declares {@code execute*} or {@code prepareStatement}/{@code prepareCall}:
     * method names read from its constant pool, nothing else parsed.
     */
    static boolean declaresJdbcMethods(ClassReader reader) {
        final boolean[] found = new boolean[1];
        reader.accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public MethodVisitor visitMethod(int access, String name, String desc, String signature,
                    String[] exceptions) {
                if (isExecute(name) || name.equals("executeBatch") || name.equals("prepareStatement")
                        || name.equals("prepareCall")) {
                    found[0] = true;
                }
                return null;
            }
        }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return found[0];
    }

    static boolean isExecute(String name) {
        return name.equals("execute") || name.equals("executeQuery") || name.equals("executeUpdate")
                || name.equals("executeLargeUpdate");
    }

    /**
     * Wraps {@code execute*()} (prepared) and {@code execute*(String, ...)} as SQL steps; with
     * {@code holdSql}, also adds the SQL field and implements {@link
     * PreparedSql}.
     */
    public static byte[] rewriteStatement(ClassReader reader, boolean holdSql) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                final boolean batch = name.equals("executeBatch") || name.equals("executeLargeBatch");
                if (!isExecute(name) && !(batch && desc.startsWith("()"))) {
                    return null;
                }
                final boolean withSql = !batch && desc.startsWith("(Ljava/lang/String;");
                if (!withSql && !desc.startsWith("()")) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadThis();
                        if (batch) {
                            visitMethodInsn(INVOKESTATIC, JDBC, "enterBatch", "(Ljava/lang/Object;)J", false);
                            return;
                        }
                        if (withSql) {
                            loadArg(0);
                        } else {
                            visitInsn(Opcodes.ACONST_NULL);
                        }
                        visitMethodInsn(INVOKESTATIC, JDBC, "enter", "(Ljava/lang/Object;Ljava/lang/String;)J", false);
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, JDBC, "exit", "(J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, JDBC, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        }, holdSql ? SQL_HOLDER : null);
    }

    /**
     * Adds {@code private transient String osprey$sql} and the {@link
     * PreparedSql} methods reading and writing it.
     */
    static final ClassRewriter.Extension SQL_HOLDER = new ClassRewriter.Extension() {
        @Override
        public ClassVisitor wrap(ClassVisitor next) {
            return new ClassVisitor(Opcodes.ASM9, next) {
                private String owner;

                @Override
                public void visit(int version, int access, String name, String signature, String superName,
                        String[] interfaces) {
                    owner = name;
                    String[] more = new String[interfaces == null ? 1 : interfaces.length + 1];
                    if (interfaces != null) {
                        System.arraycopy(interfaces, 0, more, 0, interfaces.length);
                    }
                    more[more.length - 1] = PREPARED_SQL_TYPE;
                    super.visit(version, access, name, signature, superName, more);
                }

                @Override
                public void visitEnd() {
                    FieldVisitor fv = super.visitField(Opcodes.ACC_PRIVATE | Opcodes.ACC_TRANSIENT
                            | Opcodes.ACC_SYNTHETIC, SQL_FIELD, STRING, null, null);
                    fv.visitEnd();
                    MethodVisitor get = super.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_SYNTHETIC, "osprey$sql",
                            "()" + STRING, null, null);
                    get.visitCode();
                    get.visitVarInsn(Opcodes.ALOAD, 0);
                    get.visitFieldInsn(Opcodes.GETFIELD, owner, SQL_FIELD, STRING);
                    get.visitInsn(Opcodes.ARETURN);
                    get.visitMaxs(1, 1);
                    get.visitEnd();
                    MethodVisitor set = super.visitMethod(Opcodes.ACC_PUBLIC | Opcodes.ACC_SYNTHETIC,
                            "osprey$setSql", "(" + STRING + ")V", null, null);
                    set.visitCode();
                    set.visitVarInsn(Opcodes.ALOAD, 0);
                    set.visitVarInsn(Opcodes.ALOAD, 1);
                    set.visitFieldInsn(Opcodes.PUTFIELD, owner, SQL_FIELD, STRING);
                    set.visitInsn(Opcodes.RETURN);
                    set.visitMaxs(2, 2);
                    set.visitEnd();
                    super.visitEnd();
                }
            };
        }
    };

    /** After {@code prepareStatement/prepareCall(String, ...)} returns: remember statement → SQL. */
    public static byte[] rewriteConnection(ClassReader reader) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!(name.equals("prepareStatement") || name.equals("prepareCall"))
                        || !desc.startsWith("(Ljava/lang/String;") || !desc.endsWith(";")) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            dup();
                            loadArg(0);
                            visitMethodInsn(INVOKESTATIC, JDBC, "prepared",
                                    "(Ljava/lang/Object;Ljava/lang/String;)V", false);
                        }
                    }
                };
            }
        });
    }
}
