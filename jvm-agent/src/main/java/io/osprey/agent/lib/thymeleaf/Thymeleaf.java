package io.osprey.agent.lib.thymeleaf;

import io.osprey.agent.bootstrap.MethodSteps;
import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import java.lang.reflect.Method;

/**
 * Processing a Thymeleaf template is a step {@code Thymeleaf <template>}: the template's name as
 * the application gave it ({@code TemplateSpec.getTemplate()}, {@code greeting}), never the
 * context's variables. A template given as its own text (a string template resolver) is named
 * {@code Thymeleaf (inline)}. Nothing here throws.
 */
public final class Thymeleaf {
    /** Longest template name used as it is. */
    static final int MAX_NAME = 128;

    private static volatile Class<?> lastClass;
    private static volatile Method lastGetter;

    private Thymeleaf() {}

    /** Entry of {@code TemplateEngine.process(templateSpec, context, writer)}: the step handle (0: none). */
    public static long enter(Object templateSpec) {
        if (!Osprey.enabled || templateSpec == null) {
            return 0L;
        }
        try {
            Class<?> c = templateSpec.getClass();
            Method getter = lastGetter;
            if (getter == null || lastClass != c) {
                getter = Reflection.publicMethod(c, "getTemplate");
                if (getter == null) {
                    return 0L;
                }
                lastGetter = getter;
                lastClass = c;
            }
            Object template = getter.invoke(templateSpec);
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

    /** Normal exit. */
    public static void exit(long handle) {
        Osprey.exit(handle);
    }

    /** Exceptional exit: the template's failure is recorded on the step. */
    public static void exitError(Throwable thrown, long handle) {
        Osprey.exitError(thrown, handle);
    }
}
