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

    @Test
    void resteasysFullPathJoinsUnderTheBasePath() {
        // RESTEasy gives the class's and the method's @Path joined, outermost first.
        assertEquals("/rest/api/pets/{id}/toys/{toy}",
                Jaxrs.route("/rest/api/", new String[] {"/pets/{id}/toys/{toy: [a-z]+}"}));
        assertEquals("/rest/pets", Jaxrs.route("/rest/", new String[] {"pets"}));
    }

    @Test
    void resteasysInvokerIsRewrittenAndVerifies() throws Exception {
        byte[] code = TestClasses.bytes("/io/osprey/agent/Warmup.class");
        String self = "Lio/osprey/agent/Warmup;";
        byte[] out = JaxrsInstrumentation.rewriteResteasy(new ClassReader(code), "invoke", "(" + self + self + ")");
        assertNotNull(out);
        Class<?> c = TestClasses.define("io.osprey.agent.Warmup", out);
        Object w = c.getDeclaredConstructor().newInstance();
        c.getMethod("invoke", c, c).invoke(w, w, w); // runs as before (the agent is off here)
        assertNull(JaxrsInstrumentation.rewriteResteasy(new ClassReader(code), "invoke", "(Ljava/lang/String;)"));
        Jaxrs.resteasyRoute(w, w); // nothing to read: never throws
    }
}
