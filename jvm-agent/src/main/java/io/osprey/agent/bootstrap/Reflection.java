package io.osprey.agent.bootstrap;

import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Field;
import java.lang.reflect.Method;

/**
 * Reflection the runtime helpers share: {@link #publicMethod} never throws; the accessors' {@code
 * get} throws what reflection throws, for the helper (which catches everything) to handle.
 */
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

    /** A method or field found for one class (immutable, so that a reader sees both or neither). */
    private static final class Found {
        final Class<?> type;
        final AccessibleObject member;

        Found(Class<?> type, AccessibleObject member) {
            this.type = type;
            this.member = member;
        }
    }

    /**
     * A public no-argument method (a getter) of the objects given to it, whose classes a helper
     * cannot name (they belong to the application's loader): looked up with {@link
     * #publicMethod} once for the class seen last.
     */
    public static final class Getter {
        private final String name;
        private volatile Found last;

        /** The getter {@code name()}. */
        public Getter(String name) {
            this.name = name;
        }

        /**
         * What the getter returns for {@code target}; null when its class has none. Throws what
         * {@code invoke} throws (the getter's own exception wrapped).
         */
        public Object get(Object target) throws Exception {
            Class<?> c = target.getClass();
            Found f = last;
            if (f == null || f.type != c) {
                Method m = publicMethod(c, name);
                if (m == null) {
                    return null;
                }
                f = new Found(c, m);
                last = f;
            }
            return ((Method) f.member).invoke(target);
        }
    }

    /**
     * A field, of any access, that the class of the objects given to it or a superclass declares:
     * found once for the class seen last.
     */
    public static final class FieldReader {
        private final String name;
        private volatile Found last;

        /** The field {@code name}. */
        public FieldReader(String name) {
            this.name = name;
        }

        /**
         * The field's value in {@code target}; null when its class has no such field. Throws when
         * the field cannot be made accessible (a module that does not open its package).
         */
        public Object get(Object target) throws Exception {
            Class<?> c = target.getClass();
            Found f = last;
            if (f == null || f.type != c) {
                Field field = null;
                for (Class<?> k = c; k != null && field == null; k = k.getSuperclass()) {
                    try {
                        field = k.getDeclaredField(name);
                    } catch (NoSuchFieldException e) {
                        // look further up
                    }
                }
                if (field == null) {
                    return null;
                }
                field.setAccessible(true);
                f = new Found(c, field);
                last = f;
            }
            return ((Field) f.member).get(target);
        }
    }
}
