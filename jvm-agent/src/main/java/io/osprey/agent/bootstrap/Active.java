package io.osprey.agent.bootstrap;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Transactions in flight, one entry per thread, for the agent's active-services report. Touched
 * only when a transaction begins ({@link Osprey#began}) and ends ({@link Osprey#exit}); steps
 * never touch it. Bounded: past {@link #MAX} entries new transactions are not registered.
 */
public final class Active {
    /** Most transactions tracked at once. */
    public static final int MAX = 10000;

    /** Set by the agent when active services are on. */
    public static volatile boolean on;

    private static final ConcurrentHashMap<Thread, Entry> IN_FLIGHT = new ConcurrentHashMap<Thread, Entry>();

    private Active() {}

    /** One transaction in flight. */
    public static final class Entry {
        /** The transaction's name (endpoint). */
        public final String name;
        /** The thread running it. */
        public final Thread thread;
        /** Start, {@code System.currentTimeMillis()}. */
        public final long startMillis;
        /** Start, {@code System.nanoTime()}. */
        public final long startNanos;

        Entry(String name, Thread thread) {
            this.name = name;
            this.thread = thread;
            this.startMillis = System.currentTimeMillis();
            this.startNanos = System.nanoTime();
        }
    }

    /** Registers this thread's new transaction. Never throws. */
    static void begin(String name) {
        if (!on) {
            return;
        }
        try {
            if (IN_FLIGHT.size() < MAX) {
                Thread t = Thread.currentThread();
                IN_FLIGHT.put(t, new Entry(name, t));
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** Removes this thread's transaction. Never throws. */
    static void end() {
        if (!on) {
            return;
        }
        try {
            IN_FLIGHT.remove(Thread.currentThread());
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** The transactions in flight now (weakly consistent). */
    public static List<Entry> snapshot() {
        return new ArrayList<Entry>(IN_FLIGHT.values());
    }

    /** Removes {@code entry} if still registered (its thread died inside a transaction). */
    public static void forget(Entry entry) {
        IN_FLIGHT.remove(entry.thread, entry);
    }

    /** Forgets everything (when switched off). */
    public static void clear() {
        IN_FLIGHT.clear();
    }
}
