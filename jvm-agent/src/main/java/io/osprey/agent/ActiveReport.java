package io.osprey.agent;

import io.osprey.agent.bootstrap.Active;
import io.osprey.agent.bootstrap.OspreyNative;
import java.util.List;

/**
 * Active services: every inspector interval, the transactions in flight ({@link Active}'s
 * registry, filled at transaction begin and end only) with their running time, and the stack of
 * each thread whose transaction has run at least {@code active.stack_threshold_ms}, handed to the
 * recorder in one {@link OspreyNative#active} call. Runs on the inspector thread only.
 */
final class ActiveReport {
    /** Most stacks taken per report (each is a safepoint operation on the JVM). */
    static final int MAX_STACKS = 100;
    /** Frames kept per stack. */
    static final int MAX_FRAMES = 64;

    private final long stackThresholdNanos;
    private String[] names = new String[0];
    private String[] threadNames = new String[0];
    private long[] threadIds = new long[0];
    private long[] elapsed = new long[0];
    private String[] stacks = new String[0];

    ActiveReport(long stackThresholdMs) {
        this.stackThresholdNanos = stackThresholdMs * 1000000L;
    }

    /** Takes and hands over one snapshot; the recorder's result code. */
    int report() {
        List<Active.Entry> entries = Active.snapshot();
        int n = Math.min(entries.size(), Active.MAX);
        grow(n);
        long now = System.nanoTime();
        int count = 0;
        int stacksTaken = 0;
        for (int i = 0; i < n; i++) {
            Active.Entry e = entries.get(i);
            long ns = Math.max(0L, now - e.startNanos);
            names[count] = e.name;
            threadNames[count] = e.thread.getName();
            threadIds[count] = e.thread.getId();
            elapsed[count] = ns;
            String stack = null;
            if (ns >= stackThresholdNanos && stacksTaken < MAX_STACKS) {
                stack = stack(e.thread.getStackTrace());
                stacksTaken++;
            }
            stacks[count] = stack;
            count++;
        }
        int rc = OspreyNative.active(names, threadNames, threadIds, elapsed, stacks, count);
        for (int i = 0; i < count; i++) {
            names[i] = null;
            threadNames[i] = null;
            stacks[i] = null;
        }
        return rc;
    }

    private void grow(int n) {
        if (names.length >= n) {
            return;
        }
        names = new String[n];
        threadNames = new String[n];
        threadIds = new long[n];
        elapsed = new long[n];
        stacks = new String[n];
    }

    static String stack(StackTraceElement[] frames) {
        if (frames.length == 0) {
            return null;
        }
        StringBuilder sb = new StringBuilder(1024);
        int n = Math.min(frames.length, MAX_FRAMES);
        for (int i = 0; i < n; i++) {
            sb.append("at ").append(frames[i]).append('\n');
        }
        if (frames.length > n) {
            sb.append("... ").append(frames.length - n).append(" more\n");
        }
        return sb.toString();
    }
}
