package io.osprey.agent.lib;

import java.util.Map;
import java.util.WeakHashMap;

/**
 * State a transform learns from the classes of one class loader (which class names matched), kept
 * apart per loader: two web applications with same-named classes must not share it. Weak keys: a
 * discarded application's loader and its state go together.
 *
 * @param <T> the state of one loader
 */
public abstract class PerLoader<T> {
    private final Map<ClassLoader, T> byLoader = new WeakHashMap<ClassLoader, T>();
    private T boot;

    /** A fresh state for a loader seen for the first time. */
    protected abstract T create();

    /** The state of {@code loader} (null: the boot loader). */
    public synchronized T of(ClassLoader loader) {
        if (loader == null) {
            if (boot == null) {
                boot = create();
            }
            return boot;
        }
        T t = byLoader.get(loader);
        if (t == null) {
            t = create();
            byLoader.put(loader, t);
        }
        return t;
    }
}
