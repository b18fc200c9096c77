package io.osprey.agent;

import java.lang.instrument.Instrumentation;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.Map;
import java.util.Set;

/**
 * JDK 24+ warns when a class without native access calls {@code System.load}. The agent grants
 * native access to the unnamed modules itself (as {@code --enable-native-access=ALL-UNNAMED}
 * would), so no warning is printed. Best effort: on JDKs without the internal method nothing
 * happens, and {@code --enable-native-access=ALL-UNNAMED} on the command line does the same.
 * Compiled for Java 8: every Java 9+ API is reached by reflection.
 */
final class NativeAccess {
    private NativeAccess() {}

    static void enable(Instrumentation inst) {
        try {
            Class<?> moduleClass = Class.forName("java.lang.Module");
            Method getModule = Class.class.getMethod("getModule");
            Object javaBase = getModule.invoke(Object.class);
            Object self = getModule.invoke(NativeAccess.class);
            Class<?> modules = Class.forName("jdk.internal.module.Modules");
            Method redefine = Instrumentation.class.getMethod(
                    "redefineModule", moduleClass, Set.class, Map.class, Map.class, Set.class, Map.class);
            redefine.invoke(inst, javaBase, Collections.emptySet(),
                    Collections.singletonMap("jdk.internal.module", Collections.singleton(self)),
                    Collections.emptyMap(), Collections.emptySet(), Collections.emptyMap());
            modules.getMethod("addEnableNativeAccessToAllUnnamed").invoke(null);
        } catch (Throwable ignored) {
            // Older JDK (no restriction, or no such method): nothing to do.
        }
    }
}
