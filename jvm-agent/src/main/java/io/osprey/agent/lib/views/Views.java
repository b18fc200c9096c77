package io.osprey.agent.lib.views;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;

/**
 * Rendering a Spring MVC view is a step {@code Render <view name>} (a view object set without a
 * name: its class's simple name). View names come from the application's code, so they are few;
 * the model is never read. Nothing here throws.
 */
public final class Views {
    private static final Reflection.Getter VIEW_NAME = new Reflection.Getter("getViewName");
    private static final Reflection.Getter VIEW = new Reflection.Getter("getView");

    private Views() {}

    /** Entry of {@code render(modelAndView, ...)}: the step handle (0: none). */
    public static long enter(Object modelAndView) {
        if (!Osprey.enabled || modelAndView == null) {
            return 0L;
        }
        try {
            Object name = VIEW_NAME.get(modelAndView);
            if (name == null) {
                Object view = VIEW.get(modelAndView);
                name = view == null ? null : view.getClass().getSimpleName();
            }
            return name == null ? 0L : MethodSteps.enter("Render " + name);
        } catch (Throwable t) {
            return 0L;
        }
    }
}
