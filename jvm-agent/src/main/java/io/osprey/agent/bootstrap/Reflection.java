package io.osprey.agent.bootstrap;

import java.lang.reflect.Method;

/** Reflection the runtime helpers share. Nothing here throws. */
public final class Reflection {
    private Reflection() {}

    /**
     * The public method {@code name(args)} of {@code type}, declared by a public class or interface
     * so that it can be invoked from here (an implementation class is often not public); null when
     * there is none.
     */
    public static Method publicMethod(Class<?> type, String name, Class<?>... args) {
        Method m;
        try {
            m = type.getMethod(name, args);
        } catch (Throwable t) {
            return null;
        }
        if (java.lang.reflect.Modifier.isPublic(m.getDeclaringClass().getModifiers())) {
            return m;
        }
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                Method found = publicMethod(i, name, args);
                if (found != null) {
                    return found;
                }
            }
            if (c.getSuperclass() != null && java.lang.reflect.Modifier.isPublic(c.getSuperclass().getModifiers())) {
                try {
                    return c.getSuperclass().getMethod(name, args);
                } catch (Throwable ignored) {
                    // keep looking
                }
            }
        }
        return null;
    }
}
