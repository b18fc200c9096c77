package io.osprey.agent.lib.jaxrsresources;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** JAX-RS resource methods (Jersey, RESTEasy) as steps ({@code instrument.jaxrs_resources}). */
public final class JaxrsResourcesLibrary extends Library {
    /** The library, with a fresh transform. */
    public JaxrsResourcesLibrary() {
        super("jaxrs_resources", new JaxrsResourcesInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        new JaxrsResourcesInstrumentation().wrap(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
