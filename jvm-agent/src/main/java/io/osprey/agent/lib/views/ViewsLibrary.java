package io.osprey.agent.lib.views;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** View rendering in Spring MVC (Thymeleaf, JSP, any view) as steps ({@code instrument.views}). */
public final class ViewsLibrary extends Library {
    /** The library, with a fresh transform. */
    public ViewsLibrary() {
        super("views", new ViewsInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new ViewsInstrumentation().wrap(new ClassReader(code), "invoke", "(" + self + self + ")V");
    }
}
