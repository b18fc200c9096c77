package io.osprey.agent.lib.thymeleaf;

import io.osprey.agent.lib.HelperMethodInstrumentation;

/**
 * Thymeleaf 3: {@code TemplateEngine.process(TemplateSpec, IContext, Writer)}, where every
 * {@code process} overload of the engine goes (Spring MVC's and WebFlux's {@code ThymeleafView},
 * mail templates, a plain servlet's own call), becomes a step {@code Thymeleaf <template>}
 * ({@link Thymeleaf#enter}, given the template spec). Fragments a template includes are processed
 * inside it, not steps.
 */
public final class ThymeleafInstrumentation extends HelperMethodInstrumentation {
    static final String ENGINE = "org/thymeleaf/TemplateEngine";
    static final String PROCESS_DESC = "(Lorg/thymeleaf/TemplateSpec;Lorg/thymeleaf/context/IContext;Ljava/io/Writer;)V";
    static final String THYMELEAF = "io/osprey/agent/lib/thymeleaf/Thymeleaf";

    /** The transform of {@code TemplateEngine.process(TemplateSpec, IContext, Writer)}. */
    public ThymeleafInstrumentation() {
        super(ENGINE, "process", PROCESS_DESC, THYMELEAF, ENTER_OBJECT, 0);
    }
}
