package io.osprey.agent.bootstrap;

/**
 * A per-thread "step open" flag for a library whose steps must not nest (a JDBC driver calling
 * itself, a Redis command inside a command), and the exits that release it. One guard per
 * library, held in a static field of its runtime helper; it lives in the bridge because those
 * helpers are on the boot class path. Nothing here throws.
 *
 * <pre>{@code
 * if (GUARD.held()) return 0L;       // inside a step of this library: no step
 * long h = OspreyNative.enter(...);
 * if (h == 0L) return 0L;
 * GUARD.hold();                      // from here on the handle must reach GUARD.exit
 * }</pre>
 */
public final class ReentryGuard {
    private final ThreadLocal<boolean[]> open = new ThreadLocal<boolean[]>() {
        @Override
        protected boolean[] initialValue() {
            return new boolean[1];
        }
    };

    /** True while a step of this guard is open on this thread. */
    public boolean held() {
        try {
            return open.get()[0];
        } catch (Throwable t) {
            return true;
        }
    }

    /** Marks a step open on this thread (after its enter succeeded). */
    public void hold() {
        set(true);
    }

    /** Normal exit of a step this guard holds (0: none): releases the guard, exits the step. */
    public void exit(long handle) {
        if (handle == 0L) {
            return;
        }
        set(false);
        Osprey.exit(handle);
    }

    /** Exceptional exit: records {@code thrown} on the step, then as {@link #exit}. */
    public void exitError(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        Osprey.recordError(handle, thrown);
        exit(handle);
    }

    private void set(boolean value) {
        try {
            open.get()[0] = value;
        } catch (Throwable ignored) {
            // never into the application
        }
    }
}
