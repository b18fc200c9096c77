package io.osprey.agent;

import io.osprey.agent.bootstrap.Endpoints;
import io.osprey.agent.bootstrap.OspreyNative;
import java.lang.management.ClassLoadingMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.MemoryUsage;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.ThreadMXBean;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.util.List;

/**
 * Reads the JVM's heap, GC, thread, class and CPU figures from the platform MXBeans and hands
 * them to the recorder as one sample set ({@link OspreyNative#metrics}, one JNI call). Names and
 * units follow the OpenTelemetry JVM semantic conventions; see the agent README's inspector
 * table. Only the inspector thread uses an instance, and only once the server is up: building
 * one initialises {@code java.lang.management}.
 *
 * <p>A sample allocates little (the two {@code MemoryUsage} objects): the recent CPU utilization
 * is computed here from the process CPU time, because {@code getProcessCpuLoad()} reads several
 * cgroup files per call in a container (about 100 KB of garbage a second on JDK 17).
 */
final class JvmMetrics {
    private static final String CPU_BEAN = "com.sun.management.OperatingSystemMXBean";

    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final ClassLoadingMXBean classes = ManagementFactory.getClassLoadingMXBean();
    private final OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    /**
     * {@code com.sun.management}'s {@code long getProcessCpuTime()} as {@code (Object)long} (no
     * compile-time dependency; invoked exactly, it boxes nothing); null when absent.
     */
    private final MethodHandle processCpuTime;
    /** Process CPU time and {@code System.nanoTime()} at the previous sample (JVM start at first). */
    private long lastCpuNanos;
    private long lastWallNanos;

    private final int heapUsed;
    private final int nonHeapUsed;
    private final int heapCommitted;
    private final int nonHeapCommitted;
    private final int heapLimit;
    private final int daemonThreads;
    private final int otherThreads;
    private final int classCount;
    private final int classLoaded;
    private final int classUnloaded;
    private final int cpuCount;
    private final int cpuUtilization;
    private final int cpuTime;
    private final int[] gcCount;
    private final int[] gcElapsed;

    private final int[] ids;
    private final double[] values;
    /** Distinct server transaction names admitted, and those named {@code other} past the cap. */
    private final int endpoints;
    private final int endpointsOverflow;
    private int n;

    /** Defines the series; throws when the recorder refuses one. */
    JvmMetrics() {
        int up = OspreyNative.METRIC_UP_DOWN_COUNTER;
        int counter = OspreyNative.METRIC_COUNTER;
        heapUsed = series("jvm.memory.used", "By", up, "jvm.memory.type", "heap");
        nonHeapUsed = series("jvm.memory.used", "By", up, "jvm.memory.type", "non_heap");
        heapCommitted = series("jvm.memory.committed", "By", up, "jvm.memory.type", "heap");
        nonHeapCommitted = series("jvm.memory.committed", "By", up, "jvm.memory.type", "non_heap");
        heapLimit = series("jvm.memory.limit", "By", up, "jvm.memory.type", "heap");
        daemonThreads = series("jvm.thread.count", "{thread}", up, "jvm.thread.daemon", "true");
        otherThreads = series("jvm.thread.count", "{thread}", up, "jvm.thread.daemon", "false");
        classCount = series("jvm.class.count", "{class}", up, null, null);
        classLoaded = series("jvm.class.loaded", "{class}", counter, null, null);
        classUnloaded = series("jvm.class.unloaded", "{class}", counter, null, null);
        cpuCount = series("jvm.cpu.count", "{cpu}", up, null, null);
        processCpuTime = getter("getProcessCpuTime");
        lastWallNanos = System.nanoTime() - ManagementFactory.getRuntimeMXBean().getUptime() * 1000000L;
        cpuUtilization = processCpuTime == null ? -1
                : series("jvm.cpu.recent_utilization", "1",
                        OspreyNative.METRIC_GAUGE | OspreyNative.METRIC_DOUBLE, null, null);
        cpuTime = processCpuTime == null ? -1
                : series("jvm.cpu.time", "s", counter | OspreyNative.METRIC_DOUBLE, null, null);
        gcCount = new int[gcs.size()];
        gcElapsed = new int[gcs.size()];
        for (int i = 0; i < gcs.size(); i++) {
            String name = gcs.get(i).getName();
            gcCount[i] = series("jvm.gc.collections.count", "{collection}", counter, "jvm.gc.name", name);
            gcElapsed[i] = series("jvm.gc.collections.elapsed", "ms", counter, "jvm.gc.name", name);
        }
        endpoints = series("osprey.endpoints", "{endpoint}", up, null, null);
        endpointsOverflow = series("osprey.endpoints.overflow", "{transaction}", counter, null, null);
        ids = new int[18 + 2 * gcs.size()];
        values = new double[ids.length];
    }

    /** Samples everything now and hands the set over; the recorder's result code. */
    int sample() throws Exception {
        n = 0;
        MemoryUsage heap = memory.getHeapMemoryUsage();
        MemoryUsage nonHeap = memory.getNonHeapMemoryUsage();
        put(heapUsed, heap.getUsed());
        put(heapCommitted, heap.getCommitted());
        put(heapLimit, heap.getMax());
        put(nonHeapUsed, nonHeap.getUsed());
        put(nonHeapCommitted, nonHeap.getCommitted());
        int live = threads.getThreadCount();
        int daemon = threads.getDaemonThreadCount();
        put(daemonThreads, daemon);
        put(otherThreads, Math.max(0, live - daemon));
        put(classCount, classes.getLoadedClassCount());
        put(classLoaded, classes.getTotalLoadedClassCount());
        put(classUnloaded, classes.getUnloadedClassCount());
        int cpus = Runtime.getRuntime().availableProcessors();
        put(cpuCount, cpus);
        if (processCpuTime != null) {
            long ns;
            try {
                ns = (long) processCpuTime.invokeExact((Object) os);
            } catch (Throwable t) {
                throw new IllegalStateException("getProcessCpuTime: " + t, t);
            }
            if (ns >= 0) {
                long now = System.nanoTime();
                put(cpuTime, ns / 1e9);
                put(cpuUtilization, utilization(ns - lastCpuNanos, now - lastWallNanos, cpus));
                lastCpuNanos = ns;
                lastWallNanos = now;
            }
        }
        for (int i = 0; i < gcCount.length; i++) {
            GarbageCollectorMXBean gc = gcs.get(i);
            put(gcCount[i], gc.getCollectionCount());
            put(gcElapsed[i], gc.getCollectionTime());
        }
        int admitted = Endpoints.admitted();
        if (admitted > 0) { // a service with server transactions
            put(endpoints, admitted);
            put(endpointsOverflow, Endpoints.overflowed());
        }
        return OspreyNative.metrics(ids, values, n);
    }

    /** Adds a point; negative values mean "not available" to the MXBeans and are left out. */
    private void put(int id, double value) {
        if (id >= 0 && value >= 0 && n < ids.length) {
            ids[n] = id;
            values[n] = value;
            n++;
        }
    }

    /**
     * The share of {@code cpus} processors the process used over {@code wallNanos}, from 0 to 1 (as
     * {@code getProcessCpuLoad()} reports it); -1 (left out) when no time has passed.
     */
    static double utilization(long cpuNanos, long wallNanos, int cpus) {
        if (wallNanos <= 0 || cpus <= 0) {
            return -1;
        }
        return Math.min(1.0, Math.max(0.0, cpuNanos / ((double) wallNanos * cpus)));
    }

    private MethodHandle getter(String name) {
        try {
            Class<?> type = Class.forName(CPU_BEAN);
            if (!type.isInstance(os)) {
                return null;
            }
            Method m = type.getMethod(name);
            return MethodHandles.publicLookup().unreflect(m)
                    .asType(MethodType.methodType(long.class, Object.class));
        } catch (Throwable t) {
            return null;
        }
    }

    private static int series(String name, String unit, int kind, String key, String value) {
        int id = OspreyNative.metricSeries(name, unit, kind, key, value);
        if (id < 0) {
            throw new IllegalStateException("metric " + name + ": " + OspreyNative.lastError());
        }
        return id;
    }
}
