package io.osprey.agent.bootstrap;

/**
 * Every native method of libosprey, in one class on the boot class path.
 *
 * <p>None of these methods throws: failures are result codes (the C ABI's {@code osprey_result}
 * values, 0 = ok) and {@link #lastError()} gives the text of this thread's last failure. Step
 * targets for {@code attr*} and {@code error}: a handle from {@link #enter}, 0 for the innermost
 * open step, -1 for the transaction.
 */
public final class OspreyNative {
    /** Result code: success. */
    public static final int OK = 0;
    /** Result code: the recorder is not running (not started, or shut down). */
    public static final int ERR_NOT_RUNNING = 4;
    /** Result code: this thread already has an open transaction. */
    public static final int ERR_ALREADY_ACTIVE = 7;
    /** Transaction kind: work started inside the process. */
    public static final int TXN_INTERNAL = 0;
    /** Transaction kind: handling a request from outside. */
    public static final int TXN_SERVER = 1;
    /** Step kind: a method call. */
    public static final int STEP_METHOD = 0;
    /** Step kind: a database statement (named with its SQL text). */
    public static final int STEP_SQL = 1;
    /** Step kind: an outgoing HTTP call (named {@code METHOD host:port}). */
    public static final int STEP_HTTP = 2;
    /** Result code: a bounded queue was full, the data was dropped and counted. */
    public static final int ERR_QUEUE_FULL = 14;
    /** Metric kind: a current value (OTLP Gauge). */
    public static final int METRIC_GAUGE = 0;
    /** Metric kind: a total that only grows (cumulative monotonic Sum). */
    public static final int METRIC_COUNTER = 1;
    /** Metric kind: a total that goes up and down (cumulative non-monotonic Sum). */
    public static final int METRIC_UP_DOWN_COUNTER = 2;
    /** Flag OR-ed into a metric kind: the values are doubles (else integers). */
    public static final int METRIC_DOUBLE = 16;

    private OspreyNative() {}

    /**
     * Loads libosprey from {@code path}. Lives here so that the library belongs to the boot class
     * loader, the loader of this class.
     */
    public static void load(String path) {
        System.load(path);
    }

    /** Starts the recorder: environment first, then the {@code key=value;...} items. */
    public static native int init(String config);

    /** 0 when {@code init} would accept {@code key=value}; otherwise a code, see {@link #lastError}. */
    public static native int checkKey(String key, String value);

    /** Stops the recorder, exporting what is queued within the timeout. */
    public static native int shutdown(int timeoutMs);

    /** Exports what ended so far, waiting at most the timeout. */
    public static native int flush(int timeoutMs);

    /** The id of a name (method, attribute key); -1 for null. Takes a lock: not per call. */
    public static native int intern(String name);

    /**
     * Ids below this are the overflow names (one per kind of name): a name interned past its
     * kind's budget gets one of them, so a step named at run time should then be entered with
     * {@link #enterName}, which keeps the text in the transaction.
     */
    public static final int OVERFLOW_IDS = 4;

    /**
     * The id of a step name sanitised for its step kind (a {@code STEP_*} constant: SQL literals
     * and URL ids become {@code ?} before interning); -1 for null or an unknown kind; below
     * {@link #OVERFLOW_IDS} past the kind's budget. Takes the name table's lock: call it outside
     * any Java lock.
     */
    public static native int internStep(String name, int stepKind);

    /**
     * Enters a step named {@code name}, sanitised and interned for its kind ({@code STEP_*}); past
     * the kind's budget the step gets the overflow name and the sanitised text goes into the
     * transaction. The handle, 0 without a transaction.
     */
    public static native long enterName(String name, int stepKind);

    /** Begins a transaction on this thread; kind 0 internal, 1 server; traceparent may be null. */
    public static native int begin(String name, int kind, String traceparentOrNull);

    /** Ends this thread's transaction. */
    public static native int end();

    /**
     * Takes this thread's open transaction off the thread, still open: its id (&gt; 0) for {@link
     * #attach}, or a negated result code.
     */
    public static native long detach();

    /**
     * Makes the detached transaction {@code id} this thread's open one: the id the thread's own
     * transaction was detached as (0 when it had none; attach it again when done), or a negated
     * result code.
     */
    public static native long attach(long id);

    /** Whether this thread has an open transaction: one thread-local read, for hot paths. */
    public static native boolean inTransaction();

    /** Enters a step; the handle is 0 when no transaction is open. */
    public static native long enter(int nameId, int kind);

    /** Exits the step the handle names (0 is ignored). */
    public static native void exit(long handle);

    /** Adds a string attribute to a step target. */
    public static native void attrStr(long target, int keyId, String value);

    /**
     * Adds a string attribute whose value is the name {@code valueId} (from {@link #intern}) to a
     * step target: copies nothing, the collector turns the id into the text. For values with few
     * distinct texts; a negative id is ignored.
     */
    public static native void attrName(long target, int keyId, int valueId);

    /**
     * Lets another thread report the end of step {@code handle} (an asynchronous call); exit the
     * step as usual. Returns a cell to pass to {@link #completeDeferred} exactly once, or 0 (the
     * step is not open on this thread, or too many ends await completion).
     */
    public static native long deferEnd(long handle);

    /**
     * The asynchronous call of {@code cell} (from {@link #deferEnd}; 0 is ignored) finished now with
     * HTTP {@code status} (0: none) and, when {@code errorType} is not null, that error.
     */
    public static native void completeDeferred(long cell, int status, String errorType, String message);

    /** Adds an integer attribute to a step target. */
    public static native void attrLong(long target, int keyId, long value);

    /** Records an error on a step target. */
    public static native void error(long target, String type, String message, String stack);

    /** Renames this thread's open transaction. */
    public static native void rename(String name);

    /** The W3C traceparent an outgoing call carries; null without a transaction. */
    public static native String traceparent();

    /**
     * The trace id (32 hex digits) and span id (16) of the innermost open step, joined (48
     * characters), for log lines; null without a transaction. Does not make the trace keep its tree.
     */
    public static native String currentIds();

    /**
     * Hands work to another thread: a fork of this thread's open transaction under its innermost
     * open step, the task named {@code nameId}. A cell for {@link #beginFork}, released exactly
     * once with {@link #releaseFork}; 0 without a transaction or past the forks cap.
     */
    public static native long fork(int nameId);

    /**
     * Begins the worker's part of the fork {@code cell} as this thread's transaction ({@link #end}
     * ends it: a step of the submitting transaction while that is open, else a linked transaction
     * of its own). {@link #ERR_ALREADY_ACTIVE} when this thread has one open (detach it first).
     */
    public static native int beginFork(long cell);

    /** Gives back a cell from {@link #fork} (0 is ignored); exactly once per cell. */
    public static native void releaseFork(long cell);

    /**
     * Defines a metric series: an OpenTelemetry metric name, UCUM unit, kind (a {@code METRIC_*}
     * kind, optionally {@code | METRIC_DOUBLE}) and at most one attribute (both null for none; the
     * values {@code true}/{@code false} become booleans). The id ({@code >= 0}), or minus a result
     * code. Takes a lock: once per series.
     */
    public static native int metricSeries(String name, String unit, int kind, String attrKey, String attrValue);

    /** One sample set: {@code values[i]} for series {@code ids[i]}, the first {@code count}. */
    public static native int metrics(int[] ids, double[] values, int count);

    /**
     * One snapshot of the transactions in flight (active services): for each of the first {@code
     * count}: name, thread name and id, running time, and the thread's stack or null. An empty
     * snapshot says none is in flight.
     */
    public static native int active(
            String[] names, String[] threadNames, long[] threadIds, long[] elapsedNanos, String[] stacks, int count);

    /** The text of this thread's last failure ("" when none). */
    public static native String lastError();
}
