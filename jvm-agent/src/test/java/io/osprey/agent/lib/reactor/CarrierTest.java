package io.osprey.agent.lib.reactor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The scopes of {@link Carrier}: what a thread's current carrier is, and when join/leave run. */
class CarrierTest {
    /** Records its joins and leaves in a shared log; joins when {@code joins} says so. */
    static final class Logged extends Carrier {
        final String name;
        final List<String> log;
        boolean joins = true;

        Logged(String name, List<String> log) {
            this.name = name;
            this.log = log;
        }

        @Override
        protected boolean join() {
            log.add("join " + name + (joins ? "" : " refused"));
            return joins;
        }

        @Override
        protected void leave() {
            log.add("leave " + name);
        }
    }

    @AfterEach
    void clear() {
        Carrier.set(null);
    }

    @Test
    void aScopeJoinsAndLeavesAndRestoresTheThread() {
        List<String> log = new ArrayList<String>();
        Logged a = new Logged("a", log);
        long h = Carrier.enter(a);
        assertTrue(h != 0L);
        assertSame(a, Carrier.current());
        assertTrue(a.joinedHere());
        Carrier.exit(h);
        assertNull(Carrier.current());
        assertFalse(a.joinedHere());
        assertEquals(0, Carrier.depth());
        assertEquals(Arrays.asList("join a", "leave a"), log);
    }

    @Test
    void theCurrentCarrierCostsNothing() {
        List<String> log = new ArrayList<String>();
        Logged a = new Logged("a", log);
        Carrier.set(a);
        assertEquals(0L, Carrier.enter(a));
        assertEquals(0L, Carrier.enter(null));
        Carrier.exit(0L);
        assertSame(a, Carrier.current());
        assertTrue(log.isEmpty(), log.toString());
    }

    @Test
    void scopesNestAndUnwindInOrder() {
        List<String> log = new ArrayList<String>();
        Logged a = new Logged("a", log);
        Logged b = new Logged("b", log);
        Logged outer = new Logged("outer", log);
        Carrier.set(outer);
        long ha = Carrier.enter(a);
        long hb = Carrier.enter(b);
        assertSame(b, Carrier.current());
        assertTrue(b.joinedHere());
        assertFalse(a.joinedHere(), "only the innermost joined carrier is the thread's");
        // a again inside b: a scope of its own
        long ha2 = Carrier.enter(a);
        assertTrue(ha2 != 0L);
        Carrier.exit(ha2);
        assertSame(b, Carrier.current());
        Carrier.exit(hb);
        assertSame(a, Carrier.current());
        assertTrue(a.joinedHere());
        Carrier.exit(ha);
        assertSame(outer, Carrier.current());
        assertEquals(Arrays.asList("join a", "join b", "join a", "leave a", "leave b", "leave a"), log);
    }

    @Test
    void aRefusedJoinStillSetsTheContextAndLeavesNothing() {
        List<String> log = new ArrayList<String>();
        Logged a = new Logged("a", log);
        a.joins = false;
        long h = Carrier.enter(a);
        assertSame(a, Carrier.current(), "subscriptions made in the scope capture it");
        assertFalse(a.joinedHere());
        Carrier.exit(h);
        assertNull(Carrier.current());
        assertEquals(Arrays.asList("join a refused"), log);
    }

    @Test
    void exitingAnOuterScopeClosesTheInnerOnesLeftOpen() {
        List<String> log = new ArrayList<String>();
        Logged a = new Logged("a", log);
        Logged b = new Logged("b", log);
        long ha = Carrier.enter(a);
        Carrier.enter(b); // its exit was skipped
        Carrier.exit(ha);
        assertNull(Carrier.current());
        assertEquals(0, Carrier.depth());
        assertEquals(Arrays.asList("join a", "join b", "leave b", "leave a"), log);
        Carrier.exit(ha); // twice: ignored
        assertEquals(4, log.size());
    }

    @Test
    void scopesGrowPastTheirFirstArraysAndStopAtTheCap() {
        List<String> log = new ArrayList<String>();
        Logged[] carriers = new Logged[Carrier.MAX_DEPTH + 1];
        long first = 0L;
        for (int i = 0; i < carriers.length; i++) {
            carriers[i] = new Logged("c" + i, log);
            long h = Carrier.enter(carriers[i]);
            if (i == 0) {
                first = h;
            }
            assertEquals(i < Carrier.MAX_DEPTH ? i + 1 : 0, h, "depth " + i);
        }
        assertEquals(Carrier.MAX_DEPTH, Carrier.depth());
        Carrier.exit(first);
        assertEquals(0, Carrier.depth());
        assertEquals(2 * Carrier.MAX_DEPTH, log.size());
    }
}
