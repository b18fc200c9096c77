package io.osprey.agent.lib.jaxrsresources;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;

/**
 * A JAX-RS resource method call through Jersey or RESTEasy is a step {@code Resource.method} (the
 * method's declaring class's simple name), read from the {@code method} field of Jersey's
 * dispatcher (a {@code Method}) or of RESTEasy's {@code MethodInjectorImpl} (a {@code
 * ResourceLocator}, whose {@code getMethod()}). Nothing here throws.
 */
public final class JaxrsResources {
    private static final Reflection.FieldReader METHOD = new Reflection.FieldReader("method");
    private static final Reflection.Getter LOCATED_METHOD = new Reflection.Getter("getMethod");

    private JaxrsResources() {}

    /** Entry of {@code dispatch}: the step handle (0: none). */
    public static long enter(Object dispatcher) {
        if (!Osprey.enabled || dispatcher == null) {
            return 0L;
        }
        try {
            Object m = METHOD.get(dispatcher);
            if (m != null && !(m instanceof Method)) {
                m = LOCATED_METHOD.get(m); // RESTEasy's ResourceLocator: the Java method it calls
            }
            return m instanceof Method ? MethodSteps.enter(null, (Method) m) : 0L;
        } catch (Throwable t) {
            return 0L;
        }
    }
}
