package io.osprey.agent.bootstrap;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The cap on distinct transaction (endpoint) names of this service ({@code http.endpoints.max},
 * default {@value #DEFAULT_MAX}): a name is admitted when its transaction ends, until the cap is
 * reached; past it, a transaction with a name not admitted before is named {@code METHOD other}
 * instead, and counted ({@link #overflowed}). Names a transaction only carried for a while (the
 * path before its framework route was known) are never admitted, so they do not use up the cap.
 * Request methods outside the standard ones are named {@code HTTP} (a client may send any token).
 * Nothing here throws.
 */
public final class Endpoints {
    /** Distinct names kept unless configured. */
    public static final int DEFAULT_MAX = 1000;
    /** The route of names past the cap. */
    public static final String OTHER = "other";

    private static final String[] METHODS = {
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    };

    private static final ConcurrentHashMap<String, Boolean> ADMITTED = new ConcurrentHashMap<String, Boolean>();
    private static final AtomicLong OVERFLOWED = new AtomicLong();
    private static volatile int max = DEFAULT_MAX;

    private Endpoints() {}

    /** Sets the cap ({@code http.endpoints.max}); a complaint when not a whole number >= 1, else null. */
    public static String configure(String value) {
        if (value == null) {
            return null;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 1) {
                max = n;
                return null;
            }
        } catch (NumberFormatException ignored) {
            // below
        }
        return "http.endpoints.max=" + value + ": expected a whole number >= 1";
    }

    /** {@code method} when it is a standard HTTP method (the same String), else {@code HTTP}. */
    public static String method(String method) {
        if (method == null) {
            return "HTTP";
        }
        for (String m : METHODS) {
            if (m.equals(method)) {
                return m;
            }
        }
        return "HTTP";
    }

    /** Whether {@code name} may be used without being admitted first: known, or room left. */
    public static boolean known(String name) {
        return ADMITTED.containsKey(name) || ADMITTED.size() < max;
    }

    /**
     * At a transaction's end: admits its final {@code name}; false (counted) when the cap is
     * reached and the name is new, and the transaction is to be renamed {@link #other}.
     */
    public static boolean admit(String name) {
        if (ADMITTED.containsKey(name)) {
            return true;
        }
        if (ADMITTED.size() < max) {
            ADMITTED.putIfAbsent(name, Boolean.TRUE);
            return true;
        }
        OVERFLOWED.incrementAndGet();
        return false;
    }

    /** {@code METHOD other}. */
    public static String other(String method) {
        return method(method) + " " + OTHER;
    }

    /** Distinct names admitted so far. */
    public static int admitted() {
        return ADMITTED.size();
    }

    /** Transactions named {@code METHOD other} because of the cap, since start. */
    public static long overflowed() {
        return OVERFLOWED.get();
    }

    /** Forgets every admitted name and the count (tests). */
    static void reset() {
        ADMITTED.clear();
        OVERFLOWED.set(0);
        max = DEFAULT_MAX;
    }
}
