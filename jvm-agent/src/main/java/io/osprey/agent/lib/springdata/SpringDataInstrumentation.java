package io.osprey.agent.lib.springdata;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Spring Data (2.4 and later, every store): {@code RepositoryMethodInvoker.invoke(repository
 * interface, multicaster, args)}, through which each repository method runs (query methods and
 * the base methods such as {@code save} alike), becomes a step {@code Repository.method}
 * ({@link SpringData#enter}).
 */
public final class SpringDataInstrumentation extends LibraryInstrumentation {
    static final String INVOKER = "org/springframework/data/repository/core/support/RepositoryMethodInvoker";
    static final String INVOKE_DESC = "(Ljava/lang/Class;"
            + "Lorg/springframework/data/repository/core/support/RepositoryInvocationMulticaster;"
            + "[Ljava/lang/Object;)Ljava/lang/Object;";
    static final String SPRING_DATA = "io/osprey/agent/lib/springdata/SpringData";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return INVOKER.equals(internalName) ? rewrite(reader, "invoke", INVOKE_DESC) : null;
    }

    /** Wraps the public method {@code method(desc)}, whose first argument is the interface. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, SPRING_DATA, "(Ljava/lang/Object;Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                        loadArg(0);
                    }
                };
            }
        });
    }
}
