package io.osprey.agent.lib.springdata;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * A Spring Data repository method is a step {@code Repository.method} (the repository
 * interface's simple name), the method read from the invoker's {@code method} field. Nothing here
 * throws.
 */
public final class SpringData {
    private static volatile Field methodField;

    private SpringData() {}

    /** Entry of {@code invoke(repositoryInterface, ...)}: the step handle (0: none). */
    public static long enter(Object invoker, Object repositoryInterface) {
        if (!Osprey.enabled || invoker == null) {
            return 0L;
        }
        try {
            Field f = methodField;
            if (f == null) {
                for (Class<?> k = invoker.getClass(); k != null && f == null; k = k.getSuperclass()) {
                    if (k.getName().equals("org.springframework.data.repository.core.support.RepositoryMethodInvoker")) {
                        f = k.getDeclaredField("method");
                    }
                }
                if (f == null) {
                    return 0L;
                }
                f.setAccessible(true);
                methodField = f;
            }
            Object m = f.get(invoker);
            if (!(m instanceof Method)) {
                return 0L;
            }
            return MethodSteps.enter(repositoryInterface instanceof Class ? (Class<?>) repositoryInterface : null,
                    (Method) m);
        } catch (Throwable t) {
            return 0L;
        }
    }
}
