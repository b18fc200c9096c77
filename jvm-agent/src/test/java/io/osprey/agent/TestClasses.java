package io.osprey.agent;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;

/** Reading test classes' bytes and defining transformed classes, for the transform tests. */
public final class TestClasses {
    private TestClasses() {
    }

    /** The bytes of the resource {@code path} (relative to this package unless it starts with /). */
    public static byte[] bytes(String path) throws Exception {
        try (InputStream in = TestClasses.class.getResourceAsStream(path)) {
            return read(in);
        }
    }

    /** Everything {@code in} has left (not closed). */
    public static byte[] read(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    /**
     * Defines {@code code} as {@code name} in its own loader (a child of the test classes'
     * loader) and initialises it, so the verifier checks every method.
     */
    public static Class<?> define(final String name, final byte[] code) throws Exception {
        ClassLoader loader = new ClassLoader(TestClasses.class.getClassLoader()) {
            @Override
            protected Class<?> loadClass(String n, boolean resolve) throws ClassNotFoundException {
                if (n.equals(name)) {
                    synchronized (getClassLoadingLock(n)) {
                        Class<?> c = findLoadedClass(n);
                        return c != null ? c : defineClass(n, code, 0, code.length);
                    }
                }
                return super.loadClass(n, resolve);
            }
        };
        return Class.forName(name, true, loader);
    }
}
