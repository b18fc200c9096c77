package io.osprey.agent.lib.springdata;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Spring Data (2.4 and later, every store): {@code RepositoryMethodInvoker.invoke(repository
 * interface, multicaster, args)}, through which each repository method runs (query methods and
 * the base methods such as {@code save} alike), becomes a step {@code Repository.method}
 * ({@link SpringData#enter}, given the invoker and the interface).
 */
public final class SpringDataInstrumentation extends HelperMethodInstrumentation {
    static final String INVOKER = "org/springframework/data/repository/core/support/RepositoryMethodInvoker";
    static final String INVOKE_DESC = "(Ljava/lang/Class;"
            + "Lorg/springframework/data/repository/core/support/RepositoryInvocationMulticaster;"
            + "[Ljava/lang/Object;)Ljava/lang/Object;";
    static final String SPRING_DATA = "io/osprey/agent/lib/springdata/SpringData";

    /** The transform of {@code RepositoryMethodInvoker.invoke}. */
    public SpringDataInstrumentation() {
        super(INVOKER, "invoke", INVOKE_DESC, SPRING_DATA, "(Ljava/lang/Object;Ljava/lang/Object;)J", THIS, 0);
    }
}
