package io.osprey.agent.lib.reactor;

/**
 * What the rewritten Reactor subscribers call ({@code ReactorInstrumentation}): each captures the
 * subscribing thread's {@link Carrier} when it is created (Reactor creates an operator's
 * subscriber when the chain is subscribed), and each signal it receives ({@code onNext}, {@code
 * onError}, {@code onComplete}, a conditional {@code tryOnNext}, a drain loop's {@code run}) on a
 * thread whose current carrier is another one runs in a scope of the captured one: the code the
 * operator calls (the application's {@code map}/{@code flatMap} functions, the subscribers
 * downstream) runs inside that transaction. Without a captured carrier a signal costs one null
 * test; on a thread already in its carrier, one thread-local read. Nothing here throws.
 */
public final class Reactors {
    /** Set when the library starts. */
    static volatile boolean on;

    private Reactors() {}

    /** Starts capturing; called once by the library's start. */
    public static void init() {
        on = true;
    }

    /** A subscriber was created: the carrier it runs its signals in (null: none). */
    public static Object capture() {
        if (!on) {
            return null;
        }
        try {
            return Carrier.current();
        } catch (Throwable t) {
            return null;
        }
    }

    /** A signal begins, {@code captured} from {@link #capture}: a handle for {@link #exit} (0: none). */
    public static long enter(Object captured) {
        if (captured == null) {
            return 0L;
        }
        try {
            return captured instanceof Carrier ? Carrier.enter((Carrier) captured) : 0L;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** The signal ends. */
    public static void exit(long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            Carrier.exit(handle);
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /** The signal threw {@code thrown} (the caller rethrows): the scope ends as on {@link #exit}. */
    public static void exitError(Throwable thrown, long handle) {
        exit(handle);
    }
}
