package io.osprey.agent;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import java.util.Collections;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.objectweb.asm.ClassReader;
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
 * {@code java.sql.Connection}), or when its superclass matched earlier. A driver class that only
 * inherits the interface from a superclass not yet seen (or an abstract base it does not name
 * directly) is not instrumented.
 */
final class JdbcInstrumentation extends LibraryInstrumentation {
    private static final Set<String> STATEMENT_INTERFACES = new HashSet<String>(java.util.Arrays.asList(
            "java/sql/Statement", "java/sql/PreparedStatement", "java/sql/CallableStatement"));
    private static final String CONNECTION = "java/sql/Connection";

    /** Classes matched so far, so that their subclasses match too. */
    private final Set<String> statements = Collections.newSetFromMap(new ConcurrentHashMap<String, Boolean>());
    private final Set<String> connections = Collections.newSetFromMap(new ConcurrentHashMap<String, Boolean>());

    @Override
    byte[] transform(String internalName, ClassReader reader) {
        boolean statement = statements.contains(reader.getSuperName());
        boolean connection = connections.contains(reader.getSuperName());
        for (String i : reader.getInterfaces()) {
            statement |= STATEMENT_INTERFACES.contains(i);
            connection |= CONNECTION.equals(i);
        }
        if (statement) {
            statements.add(internalName);
            return rewriteStatement(reader);
        }
        if (connection) {
            connections.add(internalName);
            return rewriteConnection(reader);
        }
        return null;
    }

    static boolean isExecute(String name) {
        return name.equals("execute") || name.equals("executeQuery") || name.equals("executeUpdate")
                || name.equals("executeLargeUpdate");
    }

    /** Wraps {@code execute*()} (prepared) and {@code execute*(String, ...)} as SQL steps. */
    static byte[] rewriteStatement(ClassReader reader) {
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
                    void emitEnter() {
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
                    void emitExit() {
                        visitMethodInsn(INVOKESTATIC, JDBC, "exit", "(J)V", false);
                    }

                    @Override
                    void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, JDBC, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }

    /** After {@code prepareStatement/prepareCall(String, ...)} returns: remember statement → SQL. */
    static byte[] rewriteConnection(ClassReader reader) {
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
