package io.osprey.agent;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.LibraryInstrumentation;
import io.osprey.agent.bootstrap.OspreyNative;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.ToIntFunction;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * Wraps the configured user methods with enter/exit calls to {@link
 * io.osprey.agent.bootstrap.Osprey}. Loads no class while transforming (see {@link
 * ClassRewriter}). Any failure leaves the class unchanged.
 */
final class HookTransformer implements ClassFileTransformer {
    /** Interns step names at transform time. */
    static final ToIntFunction<String> NATIVE_IDS = new ToIntFunction<String>() {
        @Override
        public int applyAsInt(String name) {
            return OspreyNative.intern(name);
        }
    };

    /**
     * A resource of the agent jar, which is on the system class path. Resources appended to the
     * boot class path at run time are not visible through {@code getResource}, so a loader that
     * finds this one delegates to the system loader, and through it to the boot loader that holds
     * the bridge.
     */
    static final String BRIDGE_RESOURCE = "io/osprey/agent/AgentPremain.class";

    private final Hooks hooks;
    private final LibraryInstrumentation[] libraries;
    /** Per class loader: whether it sees the bridge (boot delegation). Weak keys. */
    private final Map<ClassLoader, Boolean> seesBridge = new WeakHashMap<ClassLoader, Boolean>();

    HookTransformer(Hooks hooks) {
        this(hooks, java.util.Collections.<LibraryInstrumentation>emptyList());
    }

    HookTransformer(Hooks hooks, List<LibraryInstrumentation> libraries) {
        this.hooks = hooks;
        this.libraries = libraries.toArray(new LibraryInstrumentation[0]);
    }

    /**
     * Whether code defined by {@code loader} can link to the bridge: JBoss Modules loaders once
     * the bridge package is delegated ({@link JBossModules}), and loaders that delegate to the
     * system class loader. Others (OSGi) might make injected code fail with NoClassDefFoundError,
     * so their classes are left alone. Asks for a resource, never loads a class.
     */
    boolean seesBridge(ClassLoader loader) {
        if (loader == null) {
            return true;
        }
        synchronized (seesBridge) {
            Boolean known = seesBridge.get(loader);
            if (known == null) {
                known = JBossModules.delegates(loader) || loader.getResource(BRIDGE_RESOURCE) != null;
                seesBridge.put(loader, known);
            }
            return known;
        }
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined,
            ProtectionDomain domain, byte[] bytes) {
        if (className == null || bytes == null || skipped(className)) {
            return null;
        }
        try {
            if (libraries.length > 0) {
                ClassReader reader = new ClassReader(bytes);
                for (LibraryInstrumentation library : libraries) {
                    byte[] out = library.transform(loader, className, reader);
                    if (out != null) {
                        return seesBridge(loader) ? out : null;
                    }
                }
            }
            String dotted = className.replace('/', '.');
            if (hooks.isEmpty() || !hooks.mayMatchClass(dotted) || !seesBridge(loader)) {
                return null;
            }
            return instrument(bytes, dotted, hooks, NATIVE_IDS);
        } catch (Throwable t) {
            reportFailure(className, t);
            return null;
        }
    }

    /** Failed transforms reported so far; past {@link #MAX_REPORTED}, one last line says so. */
    private static final java.util.concurrent.atomic.AtomicInteger REPORTED =
            new java.util.concurrent.atomic.AtomicInteger();
    private static final int MAX_REPORTED = 10;

    /**
     * One line on stderr per class that could not be transformed (the class then runs as it is),
     * for the first {@link #MAX_REPORTED} of them.
     */
    static void reportFailure(String className, Throwable t) {
        int n = REPORTED.incrementAndGet();
        if (n <= MAX_REPORTED) {
            System.err.println("osprey: could not instrument " + className.replace('/', '.') + " ("
                    + AgentPremain.oneLine(t) + "); it runs unchanged"
                    + (n == MAX_REPORTED ? "; further failures are not reported" : ""));
        }
    }

    static boolean skipped(String internalName) {
        return internalName.startsWith("java/") || internalName.startsWith("jdk/")
                || internalName.startsWith("sun/") || internalName.startsWith("com/sun/")
                || internalName.startsWith("io/osprey/agent/");
    }

    /**
     * Runs the whole pipeline once, for the method hooks and each of {@code libraries}, so every
     * class it needs is loaded before transforms start.
     */
    void warmUp(List<Library> libraries) {
        try (InputStream in = HookTransformer.class.getResourceAsStream("Warmup.class")) {
            if (in == null) {
                return;
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            byte[] code = out.toByteArray();
            instrument(code, Warmup.class.getName(),
                    new Hooks(Warmup.class.getName() + ".*", null, Warmup.class.getName() + ".run", false),
                    NATIVE_IDS);
            String self = "L" + Warmup.class.getName().replace('.', '/') + ";";
            for (Library library : libraries) {
                try {
                    library.warmUp(code, self);
                } catch (Throwable ignored) {
                    // only a warm-up
                }
            }
        } catch (Throwable ignored) {
            // only a warm-up
        }
    }

    /** The instrumented class, or null when no method was hooked. */
    static byte[] instrument(byte[] bytes, final String className, final Hooks hooks,
            final ToIntFunction<String> ids) {
        return ClassRewriter.rewrite(new ClassReader(bytes), new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (name.charAt(0) == '<'
                        || (access & (Opcodes.ACC_ABSTRACT | Opcodes.ACC_NATIVE | Opcodes.ACC_SYNTHETIC
                                | Opcodes.ACC_BRIDGE)) != 0) {
                    return null;
                }
                boolean txn = hooks.isTransaction(className, name);
                boolean method = !txn && hooks.isMethod(className, name)
                        && ((access & Opcodes.ACC_PUBLIC) != 0 || hooks.nonPublic)
                        && !Hooks.isAccessor(name, desc);
                if (!txn && !method) {
                    return null;
                }
                String stepName = methodName(className, name, desc);
                int id = ids.applyAsInt(stepName);
                if (id < 0) {
                    return null;
                }
                return new MethodHook(mv, access, name, desc, id, txn ? stepName : null, frames);
            }
        });
    }

    /** {@code demo.App.compute(int,java.lang.String)}. */
    static String methodName(String className, String method, String desc) {
        StringBuilder sb = new StringBuilder(className).append('.').append(method).append('(');
        Type[] args = Type.getArgumentTypes(desc);
        for (int i = 0; i < args.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(args[i].getClassName());
        }
        return sb.append(')').toString();
    }
}
