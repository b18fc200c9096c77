package io.osprey.agent.bootstrap;

/**
 * What injected code calls. Every method checks {@link #enabled} and catches every Throwable, so
 * nothing recorded can ever disturb the application.
 */
public final class Osprey {
    /** Set once libosprey is loaded and started; cleared when the agent switches off. */
    public static volatile boolean enabled;

    /** Handle meaning "this call began the transaction" (never a step handle in practice). */
    public static final long TXN = Long.MIN_VALUE;

    private static volatile int txnKind = OspreyNative.TXN_INTERNAL;

    private static final int MAX_STACK_FRAMES = 32;

    /** Run once, on the first transaction begun (the agent starts its inspector with it). */
    private static volatile Runnable onFirstTransaction;

    private Osprey() {}

    /** Sets the kind of transactions begun by {@link #enterTxn}. */
    public static void setTxnKind(int kind) {
        txnKind = kind;
    }

    /**
     * Sets what runs, once, on the thread that begins the next transaction (on the first one
     * when set at start-up). Null clears it.
     */
    public static void onFirstTransaction(Runnable action) {
        onFirstTransaction = action;
    }

    /**
     * Called right after a transaction named {@code name} was begun on this thread (by {@link
     * #enterTxn} and by server instrumentation): registers it as active and runs the
     * first-transaction action. Costs two volatile reads when both are off; never throws.
     */
    public static void began(String name) {
        Active.begin(name);
        Runnable first = onFirstTransaction;
        if (first != null) {
            onFirstTransaction = null;
            try {
                first.run();
            } catch (Throwable ignored) {
                // never into the application
            }
        }
    }

    /**
     * This thread's transaction was detached to go on elsewhere (a reactive request between
     * threads): the thread no longer counts as running it. Never throws.
     */
    public static void parked() {
        Active.end();
    }

    /** Enters a method step; returns the handle for {@link #exit}. */
    public static long enter(int nameId) {
        if (!enabled) {
            return 0L;
        }
        try {
            return OspreyNative.enter(nameId, OspreyNative.STEP_METHOD);
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Exits the step {@link #enter} returned. */
    public static void exit(long handle) {
        if (handle == 0L) {
            return;
        }
        try {
            if (handle == TXN) {
                Active.end();
                OspreyNative.end();
            } else {
                OspreyNative.exit(handle);
            }
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    /**
     * Entry of a transaction method: begins a transaction when none is open (returns {@link
     * #TXN}), else enters a step.
     */
    public static long enterTxn(int nameId, String name) {
        if (!enabled) {
            return 0L;
        }
        try {
            int rc = OspreyNative.begin(name, txnKind, null);
            if (rc == OspreyNative.OK) {
                began(name);
                return TXN;
            }
            return OspreyNative.enter(nameId, OspreyNative.STEP_METHOD);
        } catch (Throwable t) {
            return 0L;
        }
    }

    /** Records {@code thrown} on the step (or transaction) and exits it; the caller rethrows. */
    public static void exitError(Throwable thrown, long handle) {
        if (handle == 0L) {
            return;
        }
        recordError(handle == TXN ? -1L : handle, thrown);
        exit(handle);
    }

    /** Records {@code thrown} (type, message, 32 frames) on a step target; never throws. */
    public static void recordError(long target, Throwable thrown) {
        try {
            recordError(target, thrown, String.valueOf(thrown.getMessage()));
        } catch (Throwable ignored) {
            // an application's getMessage() may throw: never into the application
        }
    }

    /** As {@link #recordError(long, Throwable)} with {@code message} instead of the exception's. */
    public static void recordError(long target, Throwable thrown, String message) {
        try {
            OspreyNative.error(target, thrown.getClass().getName(), message, stack(thrown));
        } catch (Throwable ignored) {
            // never into the application
        }
    }

    private static String stack(Throwable thrown) {
        StackTraceElement[] frames = thrown.getStackTrace();
        StringBuilder sb = new StringBuilder(256);
        int n = Math.min(frames.length, MAX_STACK_FRAMES);
        for (int i = 0; i < n; i++) {
            sb.append("at ").append(frames[i]).append('\n');
        }
        if (frames.length > n) {
            sb.append("... ").append(frames.length - n).append(" more\n");
        }
        return sb.toString();
    }
}
