package io.osprey.agent.lib.jaxrsresources;

import io.osprey.agent.lib.HelperMethodInstrumentation;
import org.objectweb.asm.ClassReader;

/**
 * Jersey 2 to 4: {@code AbstractJavaResourceMethodDispatcher.dispatch(resource, request)}, and
 * RESTEasy 4 to 6: {@code MethodInjectorImpl.invoke(request, response, target)}, each of which
 * calls a resource method, become a step {@code Resource.method} ({@link JaxrsResources#enter},
 * given the dispatcher or injector).
 */
public final class JaxrsResourcesInstrumentation extends HelperMethodInstrumentation {
    static final String DISPATCHER = "org/glassfish/jersey/server/model/internal/AbstractJavaResourceMethodDispatcher";
    /** Jersey's {@code dispatch} returns {@code javax} or {@code jakarta}'s {@code Response}. */
    static final String DISPATCH_PREFIX = "(Ljava/lang/Object;Lorg/glassfish/jersey/server/ContainerRequest;)";
    static final String RESOURCES = "io/osprey/agent/lib/jaxrsresources/JaxrsResources";

    /** RESTEasy 4 to 6: {@code MethodInjectorImpl.invoke(request, response, target)}. */
    static final String RESTEASY_INJECTOR = "org/jboss/resteasy/core/MethodInjectorImpl";
    static final String RESTEASY_INVOKE = "(Lorg/jboss/resteasy/spi/HttpRequest;Lorg/jboss/resteasy/spi/HttpResponse;"
            + "Ljava/lang/Object;)Ljava/lang/Object;";

    /** The transform of Jersey's {@code dispatch} and RESTEasy's {@code invoke}. */
    public JaxrsResourcesInstrumentation() {
        super(DISPATCHER, RESOURCES, ENTER_OBJECT, THIS);
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return DISPATCHER.equals(internalName) || RESTEASY_INJECTOR.equals(internalName) ? wrap(reader) : null;
    }

    /** Jersey's {@code dispatch} or RESTEasy's {@code invoke} (each names its own types). */
    @Override
    protected boolean matches(String name, String desc) {
        return "dispatch".equals(name) && desc.startsWith(DISPATCH_PREFIX)
                || "invoke".equals(name) && RESTEASY_INVOKE.equals(desc);
    }
}
