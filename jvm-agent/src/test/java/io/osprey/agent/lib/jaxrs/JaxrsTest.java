package io.osprey.agent.lib.jaxrs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.osprey.agent.TestClasses;
import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/** Jersey route strings, and the transform of the resource method invoker. */
class JaxrsTest {
    @Test
    void templatesJoinUnderTheBasePath() {
        // Jersey lists the matched templates innermost first.
        assertEquals("/api/pets/{petId}", Jaxrs.route("/api/", new String[] {"/{petId}", "/pets"}));
        assertEquals("/api/pets/{petId}/toys/{toyId}",
                Jaxrs.route("/api/", new String[] {"/{petId}/toys/{toyId: [0-9]+}", "/pets"}));
        assertEquals("/pets", Jaxrs.route("/", new String[] {"pets/"}));
        assertEquals("/", Jaxrs.route("/", new String[0]));
    }

    @Test
    void regularExpressionsLeaveTheVariables() {
        assertEquals("/{id}", Jaxrs.withoutRegex("/{id: [0-9]+}"));
        assertEquals("/{id}/x", Jaxrs.withoutRegex("/{ id : \\d{1,3}}/x"));
        assertEquals("/a/{b}", Jaxrs.withoutRegex("/a/{b}"));
    }

    @Test
    void theInvokerIsRewrittenAndVerifies() throws Exception {
        byte[] code = TestClasses.bytes("/io/osprey/agent/Warmup.class");
        String self = "Lio/osprey/agent/Warmup;";
        byte[] out = JaxrsInstrumentation.rewrite(new ClassReader(code), "(" + self + ")" + self);
        assertNotNull(out);
        Class<?> c = TestClasses.define("io.osprey.agent.Warmup", out);
        Object w = c.getDeclaredConstructor().newInstance();
        Method apply = c.getMethod("apply", c);
        assertEquals(w, apply.invoke(w, w)); // behaves the same (the agent is off here)
        assertNull(new JaxrsInstrumentation().transform(null, "io/osprey/agent/Warmup", new ClassReader(code)));
    }
}
