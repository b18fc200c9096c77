package io.osprey.agent.lib.springmvc;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Spring MVC (5 to 7): {@code InvocableHandlerMethod.invokeForRequest(...)}, which resolves a
 * handler method's arguments and calls it, becomes a step named {@code Controller.method}
 * ({@link SpringMvc#enter}, given the handler method).
 */
public final class SpringMvcInstrumentation extends HelperMethodInstrumentation {
    static final String INVOCABLE = "org/springframework/web/method/support/InvocableHandlerMethod";
    static final String INVOKE_DESC = "(Lorg/springframework/web/context/request/NativeWebRequest;"
            + "Lorg/springframework/web/method/support/ModelAndViewContainer;[Ljava/lang/Object;)Ljava/lang/Object;";
    static final String SPRING_MVC = "io/osprey/agent/lib/springmvc/SpringMvc";

    /** The transform of {@code InvocableHandlerMethod.invokeForRequest}. */
    public SpringMvcInstrumentation() {
        super(INVOCABLE, "invokeForRequest", INVOKE_DESC, SPRING_MVC, "(Ljava/lang/Object;)J", THIS);
    }
}
