package io.osprey.agent;

import io.osprey.agent.bootstrap.OspreyNative;
import java.lang.management.ClassLoadingMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.MemoryUsage;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.Method;
import java.util.List;

/**
 * Reads the JVM's heap, GC, thread, class and CPU figures from the platform MXBeans and hands
 * them to the recorder as one sample set ({@link OspreyNative#metrics}, one JNI call). Names and
 * units follow the OpenTelemetry JVM semantic conventions; see the agent README's inspector
 * table. Only the inspector thread uses an instance, and only once the server is up: building
 * one initialises {@code java.lang.management}.
 */
final class JvmMetrics {
    private static final String CPU_BEAN = "com.sun.management.OperatingSystemMXBean";

    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final ClassLoadingMXBean classes = ManagementFactory.getClassLoadingMXBean();
    private final OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    /** {@code com.sun.management} getters, through reflection (no compile-time dependency). */
    private final Method processCpuLoad;
    private final Method processCpuTime;

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
        processCpuLoad = getter("getProcessCpuLoad");
        processCpuTime = getter("getProcessCpuTime");
        cpuUtilization = processCpuLoad == null ? -1
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
        ids = new int[16 + 2 * gcs.size()];
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
        put(cpuCount, Runtime.getRuntime().availableProcessors());
        if (processCpuLoad != null) {
            put(cpuUtilization, ((Number) processCpuLoad.invoke(os)).doubleValue());
        }
        if (processCpuTime != null) {
            long ns = ((Number) processCpuTime.invoke(os)).longValue();
            if (ns >= 0) {
                put(cpuTime, ns / 1e9);
            }
        }
        for (int i = 0; i < gcCount.length; i++) {
            GarbageCollectorMXBean gc = gcs.get(i);
            put(gcCount[i], gc.getCollectionCount());
            put(gcElapsed[i], gc.getCollectionTime());
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

    private Method getter(String name) {
        try {
            Class<?> type = Class.forName(CPU_BEAN);
            return type.isInstance(os) ? type.getMethod(name) : null;
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
