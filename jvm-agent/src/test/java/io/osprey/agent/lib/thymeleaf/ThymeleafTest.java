package io.osprey.agent.lib.thymeleaf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.osprey.agent.TestClasses;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/** Template names for steps, and the transform of the engine's process method. */
class ThymeleafTest {
    @Test
    void aTemplatesNameIsKeptAndItsTextIsNot() {
        assertEquals("greeting", Thymeleaf.name("greeting"));
        assertEquals("mail/welcome", Thymeleaf.name("mail/welcome"));
        assertEquals("(inline)", Thymeleaf.name("<p th:text=\"${name}\">x</p>"));
        assertEquals("(inline)", Thymeleaf.name("Hello [[${user.name}]]"));
        assertEquals("(inline)", Thymeleaf.name("line one\nline two"));
        assertEquals("(inline)", Thymeleaf.name(""));
        assertEquals("(inline)", Thymeleaf.name(new String(new char[Thymeleaf.MAX_NAME + 1]).replace('\0', 'a')));
    }

    @Test
    void processIsRewrittenAndVerifies() throws Exception {
        byte[] code = TestClasses.bytes("/io/osprey/agent/Warmup.class");
        String self = "Lio/osprey/agent/Warmup;";
        byte[] out = new ThymeleafInstrumentation().wrap(new ClassReader(code), "invoke", "(" + self + self + ")V");
        assertNotNull(out);
        Class<?> c = TestClasses.define("io.osprey.agent.Warmup", out);
        Object w = c.getDeclaredConstructor().newInstance();
        c.getMethod("invoke", c, c).invoke(w, w, w); // runs as before (the agent is off here)
        assertNull(new ThymeleafInstrumentation().transform(null, "io/osprey/agent/Warmup", new ClassReader(code)));
        assertEquals(0L, Thymeleaf.enter(w)); // the agent is off: no step
    }
}
