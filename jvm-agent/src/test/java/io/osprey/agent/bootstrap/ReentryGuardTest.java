package io.osprey.agent.bootstrap;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The per-thread, per-library re-entry flag of the JDBC and Redis helpers, and its exits. */
class ReentryGuardTest {
    @Test
    void heldUntilTheStepExitsOnThisThreadOnly() throws Exception {
        ReentryGuard guard = new ReentryGuard();
        ReentryGuard other = new ReentryGuard();
        assertFalse(guard.held());
        guard.hold();
        assertTrue(guard.held());
        assertFalse(other.held(), "each library has its own flag");
        AtomicBoolean elsewhere = new AtomicBoolean(true);
        Thread t = new Thread(() -> elsewhere.set(guard.held()));
        t.start();
        t.join();
        assertFalse(elsewhere.get(), "another thread is not inside the step");

        guard.exit(0L);
        assertTrue(guard.held(), "no step (handle 0): nothing to release");
        // Without the native library the step's exit fails inside and is swallowed.
        guard.exit(42L);
        assertFalse(guard.held());
    }

    @Test
    void exceptionalExitReleasesAndNeverThrows() {
        ReentryGuard guard = new ReentryGuard();
        guard.hold();
        guard.exitError(new IllegalStateException("boom") {
            @Override
            public String getMessage() {
                throw new IllegalArgumentException("a hostile getMessage");
            }
        }, 7L);
        assertFalse(guard.held());
        guard.exitError(new RuntimeException("no step"), 0L);
        assertFalse(guard.held());
    }
}
