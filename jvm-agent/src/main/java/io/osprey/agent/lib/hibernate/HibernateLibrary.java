package io.osprey.agent.lib.hibernate;

import io.osprey.agent.lib.Library;
import org.objectweb.asm.ClassReader;

/** Hibernate ORM (JPA) operations as steps ({@code instrument.hibernate}). */
public final class HibernateLibrary extends Library {
    /** The library, with a fresh transform. */
    public HibernateLibrary() {
        super("hibernate", new HibernateInstrumentation());
    }

    @Override
    public void warmUp(byte[] code, String self) {
        HibernateInstrumentation.rewrite(new ClassReader(code), java.util.Collections.singletonMap(
                "execute(Ljava/lang/String;)Z", "Warmup.execute"));
    }
}
