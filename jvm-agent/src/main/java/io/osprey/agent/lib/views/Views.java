package io.osprey.agent.lib.views;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;

/**
 * Rendering a Spring MVC view is a step {@code Render <view name>} (a view object set without a
 * name: its class's simple name). View names come from the application's code, so they are few;
 * the model is never read. Nothing here throws.
 */
public final class Views {
    private static volatile Class<?> lastClass;
    private static volatile Method[] lastMethods;

    private Views() {}

    /** Entry of {@code render(modelAndView, ...)}: the step handle (0: none). */
    public static long enter(Object modelAndView) {
        if (!Osprey.enabled || modelAndView == null) {
            return 0L;
        }
        try {
            Class<?> c = modelAndView.getClass();
            Method[] m = lastMethods;
            if (m == null || lastClass != c) {
                m = new Method[] {Reflection.publicMethod(c, "getViewName"), Reflection.publicMethod(c, "getView")};
                lastMethods = m;
                lastClass = c;
            }
            Object name = m[0] == null ? null : m[0].invoke(modelAndView);
            if (name == null && m[1] != null) {
                Object view = m[1].invoke(modelAndView);
                name = view == null ? null : view.getClass().getSimpleName();
            }
            return name == null ? 0L : MethodSteps.enter("Render " + name);
        } catch (Throwable t) {
            return 0L;
        }
    }
}
