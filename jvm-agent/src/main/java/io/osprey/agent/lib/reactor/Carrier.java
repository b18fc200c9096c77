package io.osprey.agent.lib.reactor;

import java.util.Arrays;

/**
 * The owner of one transaction whose work moves between threads by Reactor signals (a WebFlux
 * request: its transaction is detached between the threads that run it). A thread runs in at most
 * one carrier's context at a time, its <em>current</em> carrier, which the Reactor subscribers
 * created there capture ({@link Reactors#capture}); a signal delivered to such a subscriber on a
 * thread whose current carrier is another one runs in a <em>scope</em> ({@link #enter}, {@link
 * #exit}): the carrier becomes the thread's current one and, when it can ({@link #join}: its
 * transaction is detached right now), its transaction becomes the thread's open one, whatever the
 * thread had being parked and put back at the scope's end. Scopes nest; their state is kept in
 * per-thread arrays, so a scope allocates nothing once a thread's arrays have grown to its depth.
 */
public abstract class Carrier {
    /** Most nested scopes on one thread; deeper ones change nothing. */
    static final int MAX_DEPTH = 256;

    private static final ThreadLocal<Frames> FRAMES = new ThreadLocal<Frames>() {
        @Override
        protected Frames initialValue() {
            return new Frames();
        }
    };

    /**
     * A thread whose current carrier this is (the last one to make it so), or null: a hint that
     * lets a signal on that thread skip the thread-local read. Only a thread writes itself here,
     * and it clears it when its current carrier changes, so a thread reading itself here is right;
     * racy by design (a plain field: another thread's write only costs a slower check).
     */
    private Thread owner;

    /** For subclasses. */
    protected Carrier() {}

    /**
     * Makes this carrier's transaction this thread's open one for a scope (parking what the thread
     * had); true when it did, and then {@link #leave} ends the scope. False when it cannot (the
     * transaction is running on another thread, or ended) or need not: the scope's work runs as
     * the thread's own. Called with the thread's previous carrier still {@link #current}. Never
     * throws.
     */
    protected abstract boolean join();

    /**
     * Ends a scope {@link #join} began: the transaction (unless it ended in the scope) leaves the
     * thread, and what the thread had is put back. Never throws.
     */
    protected abstract void leave();

    /** This thread's current carrier; null when none. */
    public static Carrier current() {
        return FRAMES.get().current;
    }

    /**
     * Makes {@code carrier} (null: none) this thread's current carrier outside any scope (where a
     * carrier's transaction begins, or ends on its thread); returns the previous one.
     */
    public static Carrier set(Carrier carrier) {
        Frames f = FRAMES.get();
        Carrier previous = f.current;
        f.become(carrier);
        return previous;
    }

    /** Whether this carrier's transaction was made this thread's open one by the innermost scope that did. */
    public final boolean joinedHere() {
        return FRAMES.get().joinedTop == this;
    }

    /**
     * Begins a scope of {@code carrier} on this thread: a handle for {@link #exit}, 0 when nothing
     * changed (it is the thread's current carrier already, or null).
     */
    public static long enter(Carrier carrier) {
        if (carrier == null || carrier.owner == Thread.currentThread()) {
            return 0L;
        }
        Frames f = FRAMES.get();
        return f.current == carrier ? 0L : f.push(carrier);
    }

    /** Ends the scope {@code handle} names (0 is ignored), and any left open inside it. */
    public static void exit(long handle) {
        if (handle != 0L) {
            FRAMES.get().pop((int) handle - 1);
        }
    }

    /** Scope depth of this thread, for tests. */
    static int depth() {
        return FRAMES.get().depth;
    }

    /** One thread's scopes. */
    static final class Frames {
        final Thread thread = Thread.currentThread();
        Carrier current;
        /** The carrier whose transaction the innermost joining scope made the thread's. */
        Carrier joinedTop;
        int depth;
        Carrier[] pushed = new Carrier[4];
        Carrier[] previous = new Carrier[4];
        Carrier[] previousJoined = new Carrier[4];
        boolean[] joined = new boolean[4];

        /** Makes {@code c} the thread's current carrier, keeping the owner hints right. */
        void become(Carrier c) {
            Carrier old = current;
            if (old != null && old.owner == thread) {
                old.owner = null;
            }
            current = c;
            if (c != null) {
                c.owner = thread;
            }
        }

        long push(Carrier c) {
            if (depth >= MAX_DEPTH) {
                return 0L;
            }
            if (depth == pushed.length) {
                int n = depth * 2;
                pushed = Arrays.copyOf(pushed, n);
                previous = Arrays.copyOf(previous, n);
                previousJoined = Arrays.copyOf(previousJoined, n);
                joined = Arrays.copyOf(joined, n);
            }
            int d = depth;
            pushed[d] = c;
            previous[d] = current;
            previousJoined[d] = joinedTop;
            depth = d + 1;
            boolean j = c.join(); // the thread's carrier is still the previous one here
            become(c);
            joined[d] = j;
            if (j) {
                joinedTop = c;
            }
            return d + 1;
        }

        void pop(int to) {
            if (to < 0 || to >= depth) {
                return;
            }
            while (depth > to) {
                int d = --depth;
                Carrier c = pushed[d];
                joinedTop = previousJoined[d];
                if (joined[d]) {
                    c.leave();
                }
                become(previous[d]);
                pushed[d] = null;
                previous[d] = null;
                previousJoined[d] = null;
                joined[d] = false;
            }
        }
    }
}
