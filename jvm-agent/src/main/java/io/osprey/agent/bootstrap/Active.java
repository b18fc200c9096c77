package io.osprey.agent.bootstrap;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;

/**
 * Transactions in flight, for the agent's active-services report. Each recording thread gets one
 * {@link Slot} the first time it begins a transaction (registered in a bounded set); after that a
 * transaction's begin ({@link Osprey#began}) writes the slot's start time and name and its end
 * ({@link Osprey#exit}) clears the name: no allocation, no lock, and steps never touch it. Slots
 * of threads that died are dropped by {@link #snapshot}.
 */
public final class Active {
    /** Most threads tracked; threads beyond are not reported. */
    public static final int MAX = 10000;

    /** Set by the agent when active services are on. */
    public static volatile boolean on;

    private static final ThreadLocal<Slot> SLOT = new ThreadLocal<Slot>();
    private static final ConcurrentHashMap<Slot, Boolean> SLOTS = new ConcurrentHashMap<Slot, Boolean>();
    private static final AtomicReferenceFieldUpdater<Slot, String> NAME =
            AtomicReferenceFieldUpdater.newUpdater(Slot.class, String.class, "name");

    private Active() {}

    /** One thread's current transaction, written only by that thread. */
    static final class Slot {
        final Thread thread;
        /** The open transaction's name; null when none is open. Written last by begin. */
        volatile String name;
        /** The open transaction's start, {@code System.nanoTime()}; published by {@link #name}. */
        long startNanos;

        Slot(Thread thread) {
            this.thread = thread;
        }
    }

    /** One transaction in flight, as {@link #snapshot} saw it. */
    public static final class Entry {
        /** The transaction's name (endpoint). */
        public final String name;
        /** The thread running it. */
        public final Thread thread;
        /** Start, {@code System.nanoTime()}. */
        public final long startNanos;

        Entry(String name, Thread thread, long startNanos) {
            this.name = name;
            this.thread = thread;
            this.startNanos = startNanos;
        }
    }

    /** Marks this thread's new transaction as in flight. Never throws. */
    static void begin(String name) {
        if (!on) {
            return;
        }
        try {
            Slot s = SLOT.get();
            if (s == null) {
                if (SLOTS.size() >= MAX) {
                    return;
                }
                s = new Slot(Thread.currentThread());
                SLOT.set(s);
                SLOTS.put(s, Boolean.TRUE);
            }
            s.startNanos = System.nanoTime();
            // Ordered (release) stores: the reporter may see them late, never torn, and the
            // recording thread pays no full fence.
            NAME.lazySet(s, name);
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** Marks this thread's transaction as ended. Never throws. */
    static void end() {
        if (!on) {
            return;
        }
        try {
            Slot s = SLOT.get();
            if (s != null) {
                NAME.lazySet(s, null);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * The transactions in flight now (each read without locking: a transaction that ends or
     * begins meanwhile may be missed or seen with the next one's start). Drops the slots of dead
     * threads.
     */
    public static List<Entry> snapshot() {
        List<Entry> out = new ArrayList<Entry>();
        for (Iterator<Slot> it = SLOTS.keySet().iterator(); it.hasNext(); ) {
            Slot s = it.next();
            if (!s.thread.isAlive()) {
                it.remove();
                continue;
            }
            String name = s.name;
            if (name != null) {
                // Read after the name: at least as new as the start the name published.
                out.add(new Entry(name, s.thread, s.startNanos));
            }
        }
        return out;
    }

    /** Marks every transaction as ended (when switched off); slots stay registered. */
    public static void clear() {
        for (Slot s : SLOTS.keySet()) {
            s.name = null;
        }
    }
}
