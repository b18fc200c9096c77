package io.osprey.agent;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import java.lang.instrument.Instrumentation;

/**
 * The JVM inspector: a daemon thread, {@value #THREAD_NAME}, that samples heap, GC, threads,
 * classes and CPU ({@link JvmMetrics}) every {@code inspector.interval_ms} and, with active
 * services on, reports the transactions in flight ({@link ActiveReport}).
 *
 * <p>When it starts (premain touches no JMX and no logging: JBoss/WildFly install their own
 * {@code LogManager} after premain, and initialising {@code java.lang.management} before that
 * breaks them):
 *
 * <ul>
 *   <li>On a JBoss-like JVM ({@code java.util.logging.manager} or {@code jboss.modules.system.pkgs}
 *       set, or started through {@code jboss-modules.jar}): no thread exists until the first
 *       transaction begins (then sampling starts at once) or the server's log manager class
 *       ({@code java.util.logging.manager}, by default {@code org.jboss.logmanager.LogManager})
 *       is loaded (then the thread starts and waits {@code inspector.delay_ms} first), whichever
 *       comes first.
 *   <li>Otherwise: the thread starts in premain but sleeps, touching nothing, until the first
 *       transaction begins or {@code inspector.delay_ms} (default 10 s) has passed, whichever
 *       comes first; then it builds its MXBeans.
 * </ul>
 *
 * <p>Any Throwable while sampling switches the inspector off with one line on stderr ({@code
 * osprey: inspector disabled: ...}); the application runs on.
 */
final class Inspector implements Runnable {
    /** The thread's name. */
    static final String THREAD_NAME = "osprey-inspector";

    private final boolean metricsOn;
    private final long intervalMs;
    private final long delayMs;
    private final ActiveReport active;
    private final Object lock = new Object();
    private Thread thread;
    private boolean go;

    private Inspector(boolean metricsOn, long intervalMs, long delayMs, ActiveReport active) {
        this.metricsOn = metricsOn;
        this.intervalMs = intervalMs;
        this.delayMs = delayMs;
        this.active = active;
    }

    /** Applies the start rule above; called from premain after the recorder started. */
    static void install(AgentConfig cfg, Instrumentation inst) {
        boolean inspect = cfg.flagOn(AgentConfig.INSPECTOR);
        ActiveReport active = cfg.flagOn(AgentConfig.ACTIVE)
                ? new ActiveReport(cfg.number(AgentConfig.ACTIVE_STACK_THRESHOLD, 3000))
                : null;
        if (!inspect && active == null) {
            return;
        }
        final Inspector inspector = new Inspector(
                inspect,
                Math.max(100, cfg.number(AgentConfig.INSPECTOR_INTERVAL, 1000)),
                Math.max(0, cfg.number(AgentConfig.INSPECTOR_DELAY, 10000)),
                active);
        if (active != null) {
            io.osprey.agent.bootstrap.Active.on = true;
        }
        Osprey.onFirstTransaction(new Runnable() {
            @Override
            public void run() {
                inspector.firstTransaction();
            }
        });
        if (!jbossLike()) {
            inspector.startThread();
            return;
        }
        String manager = System.getProperty("java.util.logging.manager", JBOSS_LOG_MANAGER);
        inspector.watch = new LogManagerWatch(manager, new Runnable() {
            @Override
            public void run() {
                inspector.startThread();
            }
        });
        inspector.inst = inst;
        inst.addTransformer(inspector.watch, false);
    }

    /** The log manager JBoss Modules installs when none is configured. */
    static final String JBOSS_LOG_MANAGER = "org.jboss.logmanager.LogManager";

    private volatile LogManagerWatch watch;
    private volatile Instrumentation inst;

    /** True when JMX must wait for the server (see the class comment). */
    static boolean jbossLike() {
        return System.getProperty("java.util.logging.manager") != null
                || System.getProperty("jboss.modules.system.pkgs") != null
                || String.valueOf(System.getProperty("sun.java.command")).contains("jboss-modules");
    }

    /** The first transaction began: start now, or end the initial wait. */
    void firstTransaction() {
        synchronized (lock) {
            go = true;
            lock.notifyAll();
        }
        startThread();
    }

    private void startThread() {
        synchronized (lock) {
            if (thread != null) {
                return;
            }
            Thread t = new Thread(this, THREAD_NAME);
            t.setDaemon(true);
            // Maybe started from an application thread: never pin its (web-app) class loader.
            // (Its inheritable thread-locals are still copied: Java 8 has no way to refuse them.)
            t.setContextClassLoader(null);
            thread = t;
            t.start();
        }
    }

    @Override
    public void run() {
        try {
            LogManagerWatch w = watch;
            if (w != null) {
                inst.removeTransformer(w);
            }
            synchronized (lock) {
                long until = System.currentTimeMillis() + delayMs;
                long left;
                while (!go && (left = until - System.currentTimeMillis()) > 0) {
                    lock.wait(left);
                }
            }
            JvmMetrics jvm = metricsOn ? new JvmMetrics() : null;
            long next = System.nanoTime();
            while (Osprey.enabled) {
                if (jvm != null && jvm.sample() == OspreyNative.ERR_NOT_RUNNING) {
                    return;
                }
                if (active != null) {
                    active.report();
                }
                next += intervalMs * 1000000L;
                long sleepMs = (next - System.nanoTime()) / 1000000L;
                if (sleepMs > 0) {
                    Thread.sleep(sleepMs);
                } else {
                    next = System.nanoTime();
                }
            }
        } catch (InterruptedException e) {
            // the JVM is exiting
        } catch (Throwable t) {
            io.osprey.agent.bootstrap.Active.on = false;
            io.osprey.agent.bootstrap.Active.clear();
            System.err.println("osprey: inspector disabled: " + AgentPremain.oneLine(t));
        }
    }
}
