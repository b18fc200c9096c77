package io.osprey.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.InputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;

class HookTransformerTest {
    private final List<String> interned = new ArrayList<String>();
    private final ToIntFunction<String> ids = name -> {
        interned.add(name);
        return interned.size();
    };

    private static byte[] bytes(String resource) throws Exception {
        return TestClasses.bytes(resource);
    }

    /** Defines the instrumented class in its own loader: the verifier checks every method. */
    private static Class<?> define(final byte[] code) throws Exception {
        return TestClasses.define("sample.Target", code);
    }

    @Test
    void instrumentedClassVerifiesAndBehavesTheSame() throws Exception {
        Hooks hooks = new Hooks("sample.*", null, "sample.Target.handle*", false);
        byte[] out = HookTransformer.instrument(bytes("/sample/Target.class"), "sample.Target", hooks, ids);
        assertNotNull(out);
        assertTrue(interned.contains("sample.Target.sum(long,double,int[])"), interned.toString());
        assertTrue(interned.contains("sample.Target.handleTxn(int)"), interned.toString());
        assertTrue(interned.contains("sample.Target.fail(java.lang.String)"), interned.toString());
        // Accessors and non-public methods are skipped.
        for (String name : interned) {
            assertTrue(!name.contains("getName") && !name.contains("setName") && !name.contains("hidden"), name);
        }

        Class<?> c = define(out);
        Object t = c.getDeclaredConstructor().newInstance();
        assertEquals(16L, c.getMethod("sum", long.class, double.class, int[].class)
                .invoke(null, 3L, 7.5, new int[] {1, 2, 3}));
        assertEquals("1:s", c.getMethod("merge", boolean.class).invoke(t, true));
        assertEquals("1:2", c.getMethod("merge", boolean.class).invoke(t, false));
        assertEquals(42, c.getMethod("caught", String.class).invoke(t, "42"));
        assertEquals(-1, c.getMethod("caught", String.class).invoke(t, "x"));
        assertEquals("x", c.getMethod("getName").invoke(t));
        assertEquals("012", c.getMethod("handleTxn", int.class).invoke(null, 3));
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
                () -> c.getMethod("fail", String.class).invoke(t, "why"));
        assertEquals(IllegalArgumentException.class, e.getCause().getClass());
        assertEquals("why", e.getCause().getMessage());
        c.getMethod("fail", String.class).invoke(t, (Object) null);
        assertEquals(0, c.getMethod("spin", int.class).invoke(null, 5));
        assertEquals(11.0, c.getMethod("wide", long.class, double.class, Object.class).invoke(t, 2L, 3.0, "abc"));
    }

    /**
     * Real-world bytecode: every class of the ASM jars on the test class path, every method
     * hooked (non-public too, some as transactions), defined in an isolated loader and
     * initialised, which makes the JVM verify each one.
     */
    @Test
    void everyAsmClassStillVerifiesWhenFullyHooked() throws Exception {
        final java.util.Map<String, byte[]> classes = new java.util.HashMap<String, byte[]>();
        Hooks hooks = new Hooks("*", null, "*.visit*", true);
        int hooked = 0;
        for (Class<?> anchor : new Class<?>[] {org.objectweb.asm.ClassReader.class,
                org.objectweb.asm.commons.AdviceAdapter.class, org.objectweb.asm.tree.ClassNode.class}) {
            File jar = new File(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
            try (JarFile jf = new JarFile(jar)) {
                for (JarEntry e : java.util.Collections.list(jf.entries())) {
                    String n = e.getName();
                    if (!n.endsWith(".class") || n.contains("module-info")) {
                        continue;
                    }
                    byte[] original;
                    try (InputStream in = jf.getInputStream(e)) {
                        original = TestClasses.read(in);
                    }
                    String name = n.substring(0, n.length() - 6).replace('/', '.');
                    byte[] code = HookTransformer.instrument(original, name, hooks, ids);
                    if (code != null) {
                        hooked++;
                    }
                    classes.put(name, code != null ? code : original);
                }
            }
        }
        assertTrue(hooked > 80, "hooked " + hooked);
        ClassLoader loader = new ClassLoader(HookTransformerTest.class.getClassLoader()) {
            @Override
            protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
                byte[] code = classes.get(name);
                if (code == null) {
                    return super.loadClass(name, resolve);
                }
                synchronized (getClassLoadingLock(name)) {
                    Class<?> c = findLoadedClass(name);
                    return c != null ? c : defineClass(name, code, 0, code.length);
                }
            }
        };
        for (String name : classes.keySet()) {
            Class<?> c = Class.forName(name, true, loader);
            assertEquals(loader, c.getClassLoader(), name);
        }
        // And it still works: parse and rewrite a class with the hooked ASM.
        Class<?> reader = loader.loadClass("org.objectweb.asm.ClassReader");
        Class<?> writer = loader.loadClass("org.objectweb.asm.ClassWriter");
        Class<?> visitor = loader.loadClass("org.objectweb.asm.ClassVisitor");
        Object r = reader.getConstructor(byte[].class).newInstance((Object) bytes("/sample/Target.class"));
        Object w = writer.getConstructor(int.class).newInstance(2);
        reader.getMethod("accept", visitor, int.class).invoke(r, w, 0);
        byte[] copy = (byte[]) writer.getMethod("toByteArray").invoke(w);
        assertTrue(copy.length > 1000);
    }

    @Test
    void nonPublicMethodsWhenAsked() throws Exception {
        Hooks hooks = new Hooks("sample.Target", null, null, true);
        HookTransformer.instrument(bytes("/sample/Target.class"), "sample.Target", hooks, ids);
        assertTrue(interned.contains("sample.Target.hidden()"), interned.toString());
    }

    @Test
    void unmatchedClassIsLeftAlone() throws Exception {
        Hooks hooks = new Hooks("other.*", null, null, false);
        assertNull(HookTransformer.instrument(bytes("/sample/Target.class"), "sample.Target", hooks, ids));
        assertTrue(interned.isEmpty());
    }

    @Test
    void excludedMethodsAreNotHooked() throws Exception {
        Hooks hooks = new Hooks("sample.*", "sample.Target.merge,sample.Target.s*", null, false);
        HookTransformer.instrument(bytes("/sample/Target.class"), "sample.Target", hooks, ids);
        for (String name : interned) {
            assertTrue(!name.contains("merge") && !name.contains(".sum("), name);
        }
        assertTrue(interned.contains("sample.Target.caught(java.lang.String)"), interned.toString());
    }

    @Test
    void platformAndOwnClassesAreNeverTransformed() {
        HookTransformer t = new HookTransformer(new Hooks("*", null, null, false));
        for (String name : new String[] {"java/lang/String", "jdk/internal/Foo", "sun/misc/Unsafe",
                "com/sun/Foo", "io/osprey/agent/Agent"}) {
            assertNull(t.transform(null, name, null, null, new byte[] {1, 2, 3}), name);
        }
        // Garbage bytes of a matching class: no exception, no change.
        assertNull(t.transform(null, "sample/Broken", null, null, new byte[] {1, 2, 3}));
    }

    /** A loader that hides the bridge (no boot delegation) gets no hooks: nothing could link. */
    @Test
    void classesOfLoadersThatCannotSeeTheBridgeAreLeftAlone() throws Exception {
        HookTransformer t = new HookTransformer(new Hooks("sample.*", null, null, false));
        ClassLoader isolated = new ClassLoader(null) {
            @Override
            public java.net.URL getResource(String name) {
                return null;
            }
        };
        byte[] code = bytes("/sample/Target.class");
        assertFalse(t.seesBridge(isolated));
        assertNull(t.transform(isolated, "sample/Target", null, null, code));
        // The test's own loader delegates normally and sees the bridge.
        assertTrue(t.seesBridge(HookTransformerTest.class.getClassLoader()));
        assertTrue(t.seesBridge(null));
    }

    @Test
    void methodNamesAreReadable() throws Exception {
        Method m = HookTransformer.class.getDeclaredMethod("methodName", String.class, String.class, String.class);
        assertEquals("a.B.c(int,java.lang.String[],long)",
                HookTransformer.methodName("a.B", "c", "(I[Ljava/lang/String;J)V"));
        assertNotNull(m);
    }
}
