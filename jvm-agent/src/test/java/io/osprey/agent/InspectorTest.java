package io.osprey.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.bootstrap.Active;
import io.osprey.agent.bootstrap.Osprey;
import java.util.HashMap;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class InspectorTest {
    @Test
    void inspectorAndActiveKeysAreTheAgentsWithDefaults() {
        AgentConfig cfg = AgentConfig.load(
                "inspector=false,inspector.interval_ms=250,active.stack_threshold_ms=x", null,
                new HashMap<String, String>(), new Properties());
        assertFalse(cfg.flagOn(AgentConfig.INSPECTOR));
        assertTrue(cfg.flagOn(AgentConfig.ACTIVE));
        assertEquals(250, cfg.number(AgentConfig.INSPECTOR_INTERVAL, 1000));
        assertEquals(10000, cfg.number(AgentConfig.INSPECTOR_DELAY, 10000));
        assertEquals(3000, cfg.number(AgentConfig.ACTIVE_STACK_THRESHOLD, 3000), "bad value: default");
        assertFalse(cfg.recorderItems().containsKey("inspector"));
        assertFalse(cfg.recorderItems().containsKey("active.stack_threshold_ms"));
    }

    @Test
    void transactionsRegisterAtBeginAndLeaveAtEndAndTheFirstRunsTheActionOnce() {
        final AtomicInteger runs = new AtomicInteger();
        Osprey.onFirstTransaction(new Runnable() {
            @Override
            public void run() {
                runs.incrementAndGet();
            }
        });
        Active.on = true;
        try {
            Osprey.began("GET /a");
            List<Active.Entry> now = Active.snapshot();
            assertEquals(1, now.size());
            assertEquals("GET /a", now.get(0).name);
            assertSame(Thread.currentThread(), now.get(0).thread);
            // Ending goes through the bridge's exit (the native end fails quietly here: no library).
            Osprey.exit(Osprey.TXN);
            assertTrue(Active.snapshot().isEmpty());
            Osprey.began("GET /b");
            assertEquals(1, runs.get(), "the first-transaction action runs once");
        } finally {
            Active.clear();
            Active.on = false;
        }
        Osprey.began("GET /c");
        assertTrue(Active.snapshot().isEmpty(), "off: nothing registered");
    }

    @Test
    void stacksAreCutAndEmptyOnesAreNone() {
        StackTraceElement[] frames = new StackTraceElement[70];
        for (int i = 0; i < frames.length; i++) {
            frames[i] = new StackTraceElement("demo.C", "m" + i, "C.java", i);
        }
        String s = ActiveReport.stack(frames);
        assertTrue(s.startsWith("at demo.C.m0(C.java:0)\n"), s);
        assertTrue(s.endsWith("... 6 more\n"), s);
        assertNull(ActiveReport.stack(new StackTraceElement[0]));
    }

    @Test
    void jbossLikeJvmsAreRecognisedByTheirProperties() {
        String old = System.getProperty("java.util.logging.manager");
        try {
            System.setProperty("java.util.logging.manager", "org.jboss.logmanager.LogManager");
            assertTrue(Inspector.jbossLike());
        } finally {
            if (old == null) {
                System.clearProperty("java.util.logging.manager");
            } else {
                System.setProperty("java.util.logging.manager", old);
            }
        }
    }

    @Test
    void cpuUtilizationIsTheShareOfAllProcessorsOverTheInterval() {
        assertEquals(0.25, JvmMetrics.utilization(500000000L, 1000000000L, 2), 1e-9);
        assertEquals(1.0, JvmMetrics.utilization(3000000000L, 1000000000L, 2), 1e-9, "capped");
        assertEquals(0.0, JvmMetrics.utilization(-1L, 1000000000L, 2), 1e-9, "never negative");
        assertTrue(JvmMetrics.utilization(1L, 0L, 2) < 0, "no time passed: left out");
    }
}
