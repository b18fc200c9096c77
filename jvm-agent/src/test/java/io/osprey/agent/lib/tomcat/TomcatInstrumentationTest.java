package io.osprey.agent.lib.tomcat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.osprey.agent.TestClasses;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

class TomcatInstrumentationTest {
    private static byte[] bytes(String name) throws Exception {
        return TestClasses.bytes("/" + name + ".class");
    }

    private static Class<?> define(String name, byte[] code) throws Exception {
        return TestClasses.define(name, code);
    }

    @Test
    void valveIsWrappedAndBehavesTheSame() throws Exception {
        byte[] out = TomcatInstrumentation.rewrite(new ClassReader(bytes("sample/FakeValve")), "invoke",
                "(Ljava/lang/StringBuilder;Ljava/lang/StringBuilder;)V");
        assertNotNull(out);
        Class<?> c = define("sample.FakeValve", out);
        Object valve = c.getDeclaredConstructor().newInstance();
        Method invoke = c.getMethod("invoke", StringBuilder.class, StringBuilder.class);
        StringBuilder response = new StringBuilder();
        invoke.invoke(valve, new StringBuilder("ab"), response);
        assertEquals("abab", response.toString());
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
                () -> invoke.invoke(valve, new StringBuilder(), new StringBuilder()));
        assertEquals("empty", e.getCause().getMessage());
        // Only the real valve's name is matched.
        assertNull(new TomcatInstrumentation().transform(null, "sample/FakeValve",
                new ClassReader(bytes("sample/FakeValve"))));
    }
}
