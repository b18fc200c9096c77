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
     * A member of the objects given to it, whose classes a helper cannot name (they belong to the
     * application's loader): found once for the class seen last.
     */
    abstract static class Accessor {
        private volatile Found last;

        /** The member of {@code type}; null when it has none. */
        abstract AccessibleObject find(Class<?> type) throws Exception;

        /** The member's value in {@code target}. */
        abstract Object read(AccessibleObject member, Object target) throws Exception;

        /** The member's value in {@code target}; null when its class has no such member. */
        public final Object get(Object target) throws Exception {
            Class<?> c = target.getClass();
            Found f = last;
            if (f == null || f.type != c) {
                AccessibleObject m = find(c);
                if (m == null) {
                    return null;
                }
                f = new Found(c, m);
                last = f;
            }
            return read(f.member, target);
        }
    }

    /**
     * A public no-argument method (a getter), looked up with {@link #publicMethod}; {@code get}
     * throws what {@code invoke} throws (the getter's own exception wrapped).
     */
    public static final class Getter extends Accessor {
        private final String name;

        /** The getter {@code name()}. */
        public Getter(String name) {
            this.name = name;
        }

        @Override
        AccessibleObject find(Class<?> type) {
            return publicMethod(type, name);
        }

        @Override
        Object read(AccessibleObject member, Object target) throws Exception {
            return ((Method) member).invoke(target);
        }
    }

    /**
     * A field, of any access, that the class or a superclass declares; {@code get} throws when
     * the field cannot be made accessible (a module that does not open its package).
     */
    public static final class FieldReader extends Accessor {
        private final String name;

        /** The field {@code name}. */
        public FieldReader(String name) {
            this.name = name;
        }

        @Override
        AccessibleObject find(Class<?> type) {
            for (Class<?> k = type; k != null; k = k.getSuperclass()) {
                try {
                    Field field = k.getDeclaredField(name);
                    field.setAccessible(true);
                    return field;
                } catch (NoSuchFieldException e) {
                    // look further up
                }
            }
            return null;
        }

        @Override
        Object read(AccessibleObject member, Object target) throws Exception {
            return ((Field) member).get(target);
        }
    }
}
