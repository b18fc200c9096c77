package io.osprey.agent.lib.reactor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/**
 * {@link ReactorInstrumentation} on real Reactor: reactor-core loaded in a class loader of its own
 * with its subscribers rewritten as the agent rewrites them, running real chains whose signals
 * arrive on Reactor's scheduler threads.
 */
class ReactorInstrumentationTest {
    /**
     * Loads Reactor and Reactive Streams itself, rewriting what the instrumentation matches (or,
     * built with {@code rewrite} false, nothing: plain Reactor in a loader of its own).
     */
    static final class Rewriting extends ClassLoader {
        final AtomicInteger rewritten = new AtomicInteger();
        private final ReactorInstrumentation instrumentation;

        Rewriting() {
            this(true);
        }

        Rewriting(boolean rewrite) {
            super(ReactorInstrumentationTest.class.getClassLoader());
            instrumentation = rewrite ? new ReactorInstrumentation() : null;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.startsWith("reactor.") && !name.startsWith("org.reactivestreams.")) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    byte[] bytes = bytes(name);
                    byte[] out = instrumentation == null ? null
                            : instrumentation.transform(this, name.replace('.', '/'), new ClassReader(bytes));
                    if (out != null) {
                        rewritten.incrementAndGet();
                        bytes = out;
                    }
                    c = defineClass(name, bytes, 0, bytes.length);
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }

        /** The class file of {@code name} on the test class path. */
        static byte[] bytes(String name) throws ClassNotFoundException {
            ClassLoader tests = ReactorInstrumentationTest.class.getClassLoader();
            try (InputStream in = tests.getResourceAsStream(name.replace('.', '/') + ".class")) {
                if (in != null) {
                    return TestClasses.read(in);
                }
            } catch (Exception e) {
                throw new ClassNotFoundException(name, e);
            }
            throw new ClassNotFoundException(name);
        }
    }

    /** Counts joins and leaves; the latch opens at the first leave. */
    static final class Counting extends Carrier {
        final AtomicInteger joins = new AtomicInteger();
        final AtomicInteger leaves = new AtomicInteger();
        final CountDownLatch left = new CountDownLatch(1);

        @Override
        protected boolean join() {
            joins.incrementAndGet();
            return true;
        }

        @Override
        protected void leave() {
            leaves.incrementAndGet();
            left.countDown();
        }
    }

    private static Rewriting loader;
    private static Class<?> mono;

    @BeforeAll
    static void load() throws Exception {
        Reactors.on = true;
        loader = new Rewriting();
        mono = loader.loadClass("reactor.core.publisher.Mono");
    }

    @AfterEach
    void clear() {
        Carrier.set(null);
    }

    /** {@code Mono.delay(1 ms).map(f).block()}, subscribed with {@code carrier} current. */
    private static Object delayedMap(Carrier carrier, Function<Object, Object> f) throws Exception {
        Object delayed = mono.getMethod("delay", Duration.class).invoke(null, Duration.ofMillis(1));
        Object mapped = mono.getMethod("map", Function.class).invoke(delayed, f);
        Carrier previous = Carrier.set(carrier);
        try {
            return mono.getMethod("block").invoke(mapped);
        } finally {
            Carrier.set(previous);
        }
    }

    @Test
    void aSignalOnAnotherThreadRunsInTheSubscribersCarrier() throws Exception {
        Counting carrier = new Counting();
        AtomicReference<Carrier> seen = new AtomicReference<Carrier>();
        AtomicReference<Thread> thread = new AtomicReference<Thread>();
        Object result = delayedMap(carrier, v -> {
            seen.set(Carrier.current());
            thread.set(Thread.currentThread());
            return "mapped " + v;
        });
        assertEquals("mapped 0", result);
        assertTrue(loader.rewritten.get() > 0, "subscribers were rewritten");
        assertNotSame(Thread.currentThread(), thread.get(), "the map ran on the scheduler");
        assertSame(carrier, seen.get(), "in the subscriber's carrier");
        assertTrue(carrier.left.await(30, TimeUnit.SECONDS), "the scope ended");
        assertEquals(carrier.joins.get(), carrier.leaves.get(), "every join left");
        assertTrue(carrier.joins.get() >= 1, "joined on the scheduler's thread");
    }

    @Test
    void withoutACarrierNothingIsCaptured() throws Exception {
        AtomicReference<Object> seen = new AtomicReference<Object>("unset");
        Object result = delayedMap(null, v -> {
            seen.set(Carrier.current());
            return v;
        });
        assertEquals(0L, result);
        assertNull(seen.get());
    }

    @Test
    void switchedOffCapturesNothing() throws Exception {
        Reactors.on = false;
        try {
            Counting carrier = new Counting();
            AtomicReference<Object> seen = new AtomicReference<Object>("unset");
            delayedMap(carrier, v -> {
                seen.set(Carrier.current());
                return v;
            });
            assertNull(seen.get());
            assertEquals(0, carrier.joins.get());
        } finally {
            Reactors.on = true;
        }
    }

    @Test
    void onlySubscribersOfReactorsPublisherPackageAreRewritten() throws Exception {
        ReactorInstrumentation i = new ReactorInstrumentation();
        byte[] map = Rewriting.bytes("reactor.core.publisher.FluxMap$MapSubscriber");
        assertNotNull(i.transform(loader, "reactor/core/publisher/FluxMap$MapSubscriber", new ClassReader(map)));
        byte[] flux = Rewriting.bytes("reactor.core.publisher.Flux");
        assertNull(i.transform(loader, "reactor/core/publisher/Flux", new ClassReader(flux)), "not a subscriber");
        assertNull(i.transform(loader, "demo/FluxMap$MapSubscriber", new ClassReader(map)), "another package");
        Method m = mono.getClassLoader().loadClass("reactor.core.publisher.FluxMap$MapSubscriber")
                .getDeclaredMethod("onNext", Object.class);
        assertNotNull(m);
        assertNotNull(mono.getClassLoader().loadClass("reactor.core.publisher.FluxMap$MapSubscriber")
                .getDeclaredField(ReactorInstrumentation.FIELD));
    }

}
