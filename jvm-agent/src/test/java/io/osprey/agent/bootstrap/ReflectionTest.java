package io.osprey.agent.bootstrap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.reflect.InvocationTargetException;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/** The runtime helpers' reflective reads of application objects whose classes they cannot name. */
class ReflectionTest {
    /** Not public: its getter is reached through the public interface it implements. */
    private static final class Hidden implements Callable<String> {
        @Override
        public String call() {
            return "hidden";
        }
    }

    static class Base {
        @SuppressWarnings("unused")
        private final String secret;

        Base(String secret) {
            this.secret = secret;
        }
    }

    static final class Derived extends Base {
        Derived(String secret) {
            super(secret);
        }
    }

    static final class Other {
        @SuppressWarnings("unused")
        private final Object secret = 42;
    }

    @Test
    void aGetterReadsEachClassItIsGivenAndNullWhereThereIsNone() throws Exception {
        Reflection.Getter call = new Reflection.Getter("call");
        assertEquals("hidden", call.get(new Hidden()));
        Callable<Object> lambda = () -> "lambda";
        assertEquals("lambda", call.get(lambda)); // another class: looked up again
        assertEquals("hidden", call.get(new Hidden())); // and back
        assertNull(call.get("no call() on a String"));
        assertEquals("hidden", call.get(new Hidden()));

        Reflection.Getter size = new Reflection.Getter("size");
        List<String> one = Collections.singletonList("x"); // a non-public JDK class
        assertEquals(1, size.get(one));
    }

    @Test
    void aGettersExceptionComesOutWrapped() {
        Reflection.Getter call = new Reflection.Getter("call");
        final IllegalStateException boom = new IllegalStateException("boom");
        Callable<Object> failing = () -> {
            throw boom;
        };
        InvocationTargetException thrown = assertThrows(InvocationTargetException.class, () -> call.get(failing));
        assertSame(boom, thrown.getCause());
    }

    @Test
    void aFieldReaderFindsAPrivateFieldUpTheHierarchy() throws Exception {
        Reflection.FieldReader secret = new Reflection.FieldReader("secret");
        assertEquals("a", secret.get(new Derived("a")));
        assertEquals("b", secret.get(new Base("b")));
        assertEquals(42, secret.get(new Other()));
        assertEquals("c", secret.get(new Derived("c")));
        assertNull(secret.get(new Hidden()));
        assertNull(new Reflection.FieldReader("absent").get(new Derived("d")));
    }
}
