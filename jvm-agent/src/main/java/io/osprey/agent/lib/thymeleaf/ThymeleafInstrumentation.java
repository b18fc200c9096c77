package io.osprey.agent.lib.thymeleaf;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Thymeleaf 3: {@code TemplateEngine.process(TemplateSpec, IContext, Writer)}, where every
 * {@code process} overload of the engine goes (Spring MVC's and WebFlux's {@code ThymeleafView},
 * mail templates, a plain servlet's own call), becomes a step {@code Thymeleaf <template>}
 * ({@link Thymeleaf#enter}). Fragments a template includes are processed inside it, not steps.
 */
public final class ThymeleafInstrumentation extends LibraryInstrumentation {
    static final String ENGINE = "org/thymeleaf/TemplateEngine";
    static final String PROCESS_DESC = "(Lorg/thymeleaf/TemplateSpec;Lorg/thymeleaf/context/IContext;Ljava/io/Writer;)V";
    static final String THYMELEAF = "io/osprey/agent/lib/thymeleaf/Thymeleaf";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return ENGINE.equals(internalName) ? rewrite(reader, "process", PROCESS_DESC) : null;
    }

    /** Wraps the instance method {@code method(desc)}, whose first argument is the template spec, as a step. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, THYMELEAF, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadArg(0);
                    }
                };
            }
        });
    }
}
