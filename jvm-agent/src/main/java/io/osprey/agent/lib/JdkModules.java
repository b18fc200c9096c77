package io.osprey.agent.lib;

import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a transformer of JDK classes needs: the JDK's modules made to read the bridge (and to open
 * a package to it), and the classes loaded before the agent retransformed. Reflection only, so the
 * agent still runs on Java 8, where there are no modules.
 */
public final class JdkModules {
    private JdkModules() {}

    /**
     * Registers {@code transformer} (retransformation capable) and retransforms the classes of
     * {@code internalNames} ({@code java/util/concurrent/ForkJoinPool}) already loaded.
     */
    public static void addAndRetransform(Instrumentation inst, ClassFileTransformer transformer,
            Collection<String> internalNames) throws Exception {
        inst.addTransformer(transformer, true);
        List<Class<?>> loaded = new ArrayList<Class<?>>();
        for (Class<?> c : inst.getAllLoadedClasses()) {
            if (internalNames.contains(c.getName().replace('.', '/')) && inst.isModifiableClass(c)) {
                loaded.add(c);
            }
        }
        if (!loaded.isEmpty()) {
            inst.retransformClasses(loaded.toArray(new Class<?>[0]));
        }
    }

    /**
     * Makes module {@code moduleName} (of the boot layer) read the module of {@code bridge}, and
     * export {@code exportPackage} and open {@code openPackage} to it (each when not null). Does
     * nothing on Java 8 or when the module is absent.
     */
    public static void readBridge(Instrumentation inst, Class<?> bridge, String moduleName, String exportPackage,
            String openPackage) throws Exception {
        Method getModule;
        try {
            getModule = Class.class.getMethod("getModule");
        } catch (NoSuchMethodException java8) {
            return;
        }
        Class<?> moduleClass = Class.forName("java.lang.Module");
        Class<?> layerClass = Class.forName("java.lang.ModuleLayer");
        Object layer = layerClass.getMethod("boot").invoke(null);
        Object found = layerClass.getMethod("findModule", String.class).invoke(layer, moduleName);
        if (!(found instanceof Optional) || !((Optional<?>) found).isPresent()) {
            return;
        }
        Object bridgeModule = getModule.invoke(bridge);
        Method redefine = Instrumentation.class.getMethod(
                "redefineModule", moduleClass, Set.class, Map.class, Map.class, Set.class, Map.class);
        redefine.invoke(inst, ((Optional<?>) found).get(), Collections.singleton(bridgeModule),
                toBridge(exportPackage, bridgeModule), toBridge(openPackage, bridgeModule),
                Collections.emptySet(), Collections.emptyMap());
    }

    private static Map<String, Set<Object>> toBridge(String pkg, Object bridgeModule) {
        return pkg == null ? Collections.<String, Set<Object>>emptyMap()
                : Collections.singletonMap(pkg, Collections.singleton(bridgeModule));
    }
}
