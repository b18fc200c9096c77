package io.osprey.agent.lib.views;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Spring MVC's {@code DispatcherServlet.render(ModelAndView, request, response)} (protected),
 * which resolves and renders the view a handler chose, whatever the view technology (Thymeleaf,
 * JSP, FreeMarker, a {@code View} bean), becomes a step {@code Render <view name>} ({@link
 * Views#enter}, given the {@code ModelAndView}).
 */
public final class ViewsInstrumentation extends HelperMethodInstrumentation {
    static final String DISPATCHER = "org/springframework/web/servlet/DispatcherServlet";
    static final String MODEL_AND_VIEW = "(Lorg/springframework/web/servlet/ModelAndView;";
    static final String VIEWS = "io/osprey/agent/lib/views/Views";

    /** The transform of {@code DispatcherServlet.render}. */
    public ViewsInstrumentation() {
        super(DISPATCHER, VIEWS, ENTER_OBJECT, 0);
    }

    /** {@code render(ModelAndView, request, response)}, javax or jakarta. */
    @Override
    protected boolean matches(String name, String desc) {
        return "render".equals(name) && desc.startsWith(MODEL_AND_VIEW) && desc.endsWith(")V");
    }
}
