package io.osprey.agent.lib.springmvc;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;

/**
 * A Spring MVC handler method call is a step {@code Controller.method} (the bean type's simple
 * name). Reached by reflection ({@code HandlerMethod.getBeanType()}, {@code getMethod()}); nothing
 * here throws.
 */
public final class SpringMvc {
    private static volatile Class<?> lastClass;
    private static volatile Method[] lastMethods;

    private SpringMvc() {}

    /** Entry of {@code invokeForRequest}: the step handle (0: none). */
    public static long enter(Object handlerMethod) {
        if (!Osprey.enabled || handlerMethod == null) {
            return 0L;
        }
        try {
            Method[] m = methods(handlerMethod.getClass());
            if (m == null) {
                return 0L;
            }
            Object type = m[0].invoke(handlerMethod);
            Object method = m[1].invoke(handlerMethod);
            if (!(method instanceof Method)) {
                return 0L;
            }
            return MethodSteps.enter(type instanceof Class ? (Class<?>) type : null, (Method) method);
        } catch (Throwable t) {
            return 0L;
        }
    }

    private static Method[] methods(Class<?> c) {
        Method[] m = lastMethods;
        if (m == null || lastClass != c) {
            Method beanType = Reflection.publicMethod(c, "getBeanType");
            Method method = Reflection.publicMethod(c, "getMethod");
            if (beanType == null || method == null) {
                return null;
            }
            m = new Method[] {beanType, method};
            lastMethods = m;
            lastClass = c;
        }
        return m;
    }
}
