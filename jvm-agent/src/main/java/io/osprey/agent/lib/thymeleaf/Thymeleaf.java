package io.osprey.agent.lib.thymeleaf;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;

/**
 * Processing a Thymeleaf template is a step {@code Thymeleaf <template>}: the template's name as
 * the application gave it ({@code TemplateSpec.getTemplate()}, {@code greeting}), never the
 * context's variables. A template given as its own text (a string template resolver) is named
 * {@code Thymeleaf (inline)}. Nothing here throws.
 */
public final class Thymeleaf {
    /** Longest template name used as it is. */
    static final int MAX_NAME = 128;

    private static final Reflection.Getter TEMPLATE = new Reflection.Getter("getTemplate");

    private Thymeleaf() {}

    /** Entry of {@code TemplateEngine.process(templateSpec, context, writer)}: the step handle (0: none). */
    public static long enter(Object templateSpec) {
        if (!Osprey.enabled || templateSpec == null) {
            return 0L;
        }
        try {
            Object template = TEMPLATE.get(templateSpec);
            return template == null ? 0L : MethodSteps.enter("Thymeleaf " + name(template.toString()));
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * {@code template} when it reads as a name (no markup, no line break, at most {@link
     * #MAX_NAME} characters), else {@code (inline)}: the text of a template is not a name.
     */
    static String name(String template) {
        if (template.isEmpty() || template.length() > MAX_NAME) {
            return "(inline)";
        }
        for (int i = 0; i < template.length(); i++) {
            char ch = template.charAt(i);
            if (ch == '<' || ch == '>' || ch == '\n' || ch == '\r' || ch == '[' || ch == '$' || ch == '{') {
                return "(inline)";
            }
        }
        return template;
    }
}
