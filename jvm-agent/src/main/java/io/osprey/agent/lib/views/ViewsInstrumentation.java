package io.osprey.agent.lib.views;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Spring MVC's {@code DispatcherServlet.render(ModelAndView, request, response)} (protected),
 * which resolves and renders the view a handler chose, whatever the view technology (Thymeleaf,
 * JSP, FreeMarker, a {@code View} bean), becomes a step {@code Render <view name>} ({@link
 * Views#enter}).
 */
public final class ViewsInstrumentation extends io.osprey.agent.lib.LibraryInstrumentation {
    static final String DISPATCHER = "org/springframework/web/servlet/DispatcherServlet";
    static final String VIEWS = "io/osprey/agent/lib/views/Views";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        return DISPATCHER.equals(internalName) ? rewrite(reader, (String) null) : null;
    }

    /**
     * Wraps {@code render(ModelAndView, request, response)} (javax or jakarta), or, for the
     * warm-up, the method {@code invoke} of descriptor {@code warmUpDesc}.
     */
    public static byte[] rewrite(ClassReader reader, final String warmUpDesc) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                boolean match = warmUpDesc == null
                        ? "render".equals(name) && desc.startsWith("(Lorg/springframework/web/servlet/ModelAndView;")
                                && desc.endsWith(")V")
                        : "invoke".equals(name) && warmUpDesc.equals(desc);
                if (!match || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE)) != 0) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, VIEWS, "(Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadArg(0);
                    }
                };
            }
        });
    }
}
