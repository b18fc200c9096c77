package io.osprey.agent.bootstrap;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Attribute values with few distinct texts (HTTP methods, thread names, database systems, server
 * hosts), interned once and then recorded by id through {@link OspreyNative#attrName}: the
 * application thread copies and allocates nothing, the collector turns the id into the text. At
 * most {@link #MAX} values are interned this way and none longer than {@link #MAX_LENGTH}
 * characters (the name table would cut it), so an unexpectedly varied value cannot fill the name
 * table: such values are recorded as text, as {@link OspreyNative#attrStr} does. Never throws.
 */
public final class ValueNames {
    /** Most distinct values interned. */
    static final int MAX = 4096;
    /** Longest value interned, in chars: at most 1 024 UTF-8 bytes, the name table's limit. */
    static final int MAX_LENGTH = 256;

    private static final ConcurrentHashMap<String, Integer> IDS = new ConcurrentHashMap<String, Integer>();

    private ValueNames() {}

    /** The name id of {@code value} ({@code > 0}), or -1 when it is to be recorded as text. */
    public static int id(String value) {
        if (value == null) {
            return -1;
        }
        Integer known = IDS.get(value);
        if (known != null) {
            return known;
        }
        if (IDS.size() >= MAX || value.length() > MAX_LENGTH) {
            return -1;
        }
        int id = OspreyNative.intern(value);
        if (id <= 0) {
            return -1; // 0: the name table is full
        }
        IDS.put(value, id);
        return id;
    }

    /** Adds {@code key=value} (null: nothing) to a step target: by id when {@code id > 0}, else as text. */
    public static void attr(long target, int key, String value, int id) {
        if (value == null || key < 0) {
            return;
        }
        if (id > 0) {
            OspreyNative.attrName(target, key, id);
        } else {
            OspreyNative.attrStr(target, key, value);
        }
    }

    /** Adds {@code key=value} (null: nothing) to a step target, by id when it has one. */
    public static void attr(long target, int key, String value) {
        if (value != null) {
            attr(target, key, value, id(value));
        }
    }
}
