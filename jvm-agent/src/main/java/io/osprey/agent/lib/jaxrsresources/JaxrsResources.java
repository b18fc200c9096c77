package io.osprey.agent.lib.jaxrsresources;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * A JAX-RS resource method call through Jersey or RESTEasy is a step {@code Resource.method} (the
 * method's declaring class's simple name), read from the {@code method} field of Jersey's
 * dispatcher (a {@code Method}) or of RESTEasy's {@code MethodInjectorImpl} (a {@code
 * ResourceLocator}, whose {@code getMethod()}). Nothing here throws.
 */
public final class JaxrsResources {
    private static volatile Class<?> lastClass;
    private static volatile Field lastField;

    private JaxrsResources() {}

    /** Entry of {@code dispatch}: the step handle (0: none). */
    public static long enter(Object dispatcher) {
        if (!Osprey.enabled || dispatcher == null) {
            return 0L;
        }
        try {
            Class<?> c = dispatcher.getClass();
            Field f = lastField;
            if (f == null || lastClass != c) {
                f = null;
                for (Class<?> k = c; k != null && f == null; k = k.getSuperclass()) {
                    try {
                        f = k.getDeclaredField("method");
                    } catch (NoSuchFieldException e) {
                        // look further up
                    }
                }
                if (f == null) {
                    return 0L;
                }
                f.setAccessible(true);
                lastField = f;
                lastClass = c;
            }
            Object m = f.get(dispatcher);
            if (m != null && !(m instanceof Method)) {
                // RESTEasy's ResourceLocator: the Java method it calls
                Method getMethod = io.osprey.agent.bootstrap.Reflection.publicMethod(m.getClass(), "getMethod");
                m = getMethod == null ? null : getMethod.invoke(m);
            }
            return m instanceof Method ? MethodSteps.enter(null, (Method) m) : 0L;
        } catch (Throwable t) {
            return 0L;
        }
    }
}
