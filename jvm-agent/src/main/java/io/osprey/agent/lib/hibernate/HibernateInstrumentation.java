package io.osprey.agent.lib.hibernate;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import java.util.HashMap;
import java.util.Map;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Hibernate ORM 5 to 6 (the JPA {@code EntityManager} of most applications): the session's
 * {@code persist}, {@code merge}, {@code remove}, {@code find} and {@code flush}, the
 * transaction's {@code commit} and {@code rollback}, and query execution ({@code list()}, which
 * {@code getResultList}/{@code getSingleResult} use, and {@code executeUpdate}) become steps with
 * fixed names ({@code Session.flush}, {@code Query.list}, ...). The SQL they run are SQL steps
 * inside them.
 */
public final class HibernateInstrumentation extends LibraryInstrumentation {
    static final String HIBERNATE = "io/osprey/agent/lib/hibernate/Hibernate";
    /** Class → (method name + descriptor → step name). */
    static final Map<String, Map<String, String>> TARGETS = new HashMap<String, Map<String, String>>();

    static {
        Map<String, String> session = new HashMap<String, String>();
        session.put("persist(Ljava/lang/Object;)V", "Session.persist");
        session.put("merge(Ljava/lang/Object;)Ljava/lang/Object;", "Session.merge");
        session.put("remove(Ljava/lang/Object;)V", "Session.remove");
        session.put("find(Ljava/lang/Class;Ljava/lang/Object;)Ljava/lang/Object;", "Session.find");
        session.put("flush()V", "Session.flush");
        TARGETS.put("org/hibernate/internal/SessionImpl", session);
        Map<String, String> transaction = new HashMap<String, String>();
        transaction.put("commit()V", "Transaction.commit");
        transaction.put("rollback()V", "Transaction.rollback");
        TARGETS.put("org/hibernate/engine/transaction/internal/TransactionImpl", transaction);
        Map<String, String> list = new HashMap<String, String>();
        list.put("list()Ljava/util/List;", "Query.list");
        TARGETS.put("org/hibernate/query/spi/AbstractSelectionQuery", list); // 6.x
        TARGETS.put("org/hibernate/query/internal/AbstractProducedQuery", list); // 5.x
        Map<String, String> update = new HashMap<String, String>();
        update.put("executeUpdate()I", "Query.executeUpdate");
        TARGETS.put("org/hibernate/query/spi/AbstractQuery", update); // 6.x
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        Map<String, String> methods = TARGETS.get(internalName);
        return methods == null ? null : rewrite(reader, methods);
    }

    /** Wraps each public method of {@code methods} (name + descriptor) as a step of its name. */
    public static byte[] rewrite(ClassReader reader, final Map<String, String> methods) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                final String step = methods.get(name + desc);
                if (step == null) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, HIBERNATE, "(Ljava/lang/String;)J", OSPREY) {
                    @Override
                    protected void pushEnterArgs() {
                        visitLdcInsn(step);
                    }
                };
            }
        });
    }
}
