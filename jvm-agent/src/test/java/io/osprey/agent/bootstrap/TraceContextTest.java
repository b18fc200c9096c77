package io.osprey.agent.bootstrap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The W3C Trace Context rules (levels 1 and 2) for {@code traceparent} and {@code tracestate}. */
class TraceContextTest {
    private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String PARENT = "00f067aa0ba902b7";
    private static final String VALID = "00-" + TRACE + "-" + PARENT + "-01";

    @AfterEach
    void clear() {
        TraceContext.set(null);
    }

    private static String[] lines(String... values) {
        return values;
    }

    @Test
    void aSingleValidTraceparentIsContinued() {
        assertEquals(VALID, TraceContext.traceparent(lines(VALID)));
        assertEquals("00-" + TRACE + "-" + PARENT + "-00", TraceContext.parseTraceparent("00-" + TRACE + "-" + PARENT + "-00"));
        // Optional white space around the value is not part of it.
        assertEquals(VALID, TraceContext.parseTraceparent(" \t" + VALID + " "));
        // Flags this version does not know are ignored; random (level 2) is kept.
        assertEquals("00-" + TRACE + "-" + PARENT + "-03", TraceContext.parseTraceparent("00-" + TRACE + "-" + PARENT + "-ff"));
        assertEquals(3, TraceContext.flagsOf("00-" + TRACE + "-" + PARENT + "-03"));
    }

    @Test
    void duplicatedOrMissingTraceparentIsNoParent() {
        assertNull(TraceContext.traceparent(lines(VALID, VALID)));
        assertNull(TraceContext.traceparent(lines(VALID, "00-" + TRACE + "-b7ad6b7169203331-01")));
        assertNull(TraceContext.traceparent(lines()));
        assertNull(TraceContext.traceparent(null));
        // Two values folded into one line.
        assertNull(TraceContext.traceparent(lines(VALID + "," + VALID)));
    }

    @Test
    void malformedTraceparentIsNoParent() {
        String[] bad = {
            "",
            "ff-" + TRACE + "-" + PARENT + "-01", // version ff is invalid
            "00-" + TRACE + "-" + PARENT + "-01-extra", // version 00 has exactly four fields
            "00-" + TRACE + "-" + PARENT + "-011",
            "00-" + TRACE.toUpperCase() + "-" + PARENT + "-01", // upper-case hex
            "00-" + TRACE + "-" + PARENT.toUpperCase() + "-01",
            "0A-" + TRACE + "-" + PARENT + "-01",
            "00-00000000000000000000000000000000-" + PARENT + "-01", // all-zero trace id
            "00-" + TRACE + "-0000000000000000-01", // all-zero parent id
            "00-" + TRACE.substring(2) + "-" + PARENT + "-01", // short trace id
            "00-" + TRACE + "-" + PARENT.substring(1) + "-01",
            "00-" + TRACE + "-" + PARENT + "-0g", // flags not hex
            "00_" + TRACE + "_" + PARENT + "_01",
            "00-" + TRACE.substring(1) + "z-" + PARENT + "-01",
            "00-" + TRACE + "-" + PARENT + "-",
            TRACE + "-" + PARENT + "-1", // a B3 single header is no traceparent
        };
        for (String b : bad) {
            assertNull(TraceContext.parseTraceparent(b), b);
        }
    }

    @Test
    void futureVersionsAreReadByTheirFirstFourFields() {
        String base = "cc-" + TRACE + "-" + PARENT + "-01";
        assertEquals(VALID, TraceContext.parseTraceparent(base));
        assertEquals(VALID, TraceContext.parseTraceparent(base + "-what-the-future-will-be-like"));
        // After the flags a future version continues with '-' or not at all.
        assertNull(TraceContext.parseTraceparent(base + ".what-the-future-will-be-like"));
        assertNull(TraceContext.parseTraceparent(base + "1"));
        // Only the flags known to this version are carried on: 0x09 -> sampled.
        assertEquals(VALID, TraceContext.parseTraceparent("01-" + TRACE + "-" + PARENT + "-09"));
        assertNull(TraceContext.parseTraceparent("cc-" + TRACE + "-" + PARENT + "-0z-more"));
    }

    @Test
    void tracestateIsCombinedAndInvalidMembersDropped() {
        assertEquals("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                TraceContext.tracestate(lines("congo=t61rcWkgMzE", " rojo=00f067aa0ba902b7 ")));
        // Empty members are skipped; optional white space is trimmed.
        assertEquals("a=1,b=2", TraceContext.tracestate(lines(",a=1 , ,\tb=2,")));
        // Invalid keys and values are dropped, the rest kept in order.
        assertEquals("ok=1,t1@sys=v,x_-*/9=z,k=a",
                TraceContext.tracestate(lines("Upper=1,ok=1,1bad=2,t1@sys=v,t@1sys=v,x_-*/9=z,=v,k=,k=a=b,k=a,b,n")));
        // A value keeps inner spaces but not a trailing space inside the member (trimmed as OWS).
        assertEquals("k=a b", TraceContext.tracestate(lines("k=a b ")));
        // Repeated keys: the first (left-most) wins.
        assertEquals("k=1,j=2", TraceContext.tracestate(lines("k=1,j=2", "k=3")));
        assertNull(TraceContext.tracestate(lines("")));
        assertNull(TraceContext.tracestate(lines("BAD=1")));
        assertNull(TraceContext.tracestate(null));
        // Characters outside printable ASCII are invalid in values.
        assertNull(TraceContext.tracestate(lines("k=caf\u00e9")));
    }

    @Test
    void keyAndValueLengthLimits() {
        StringBuilder key = new StringBuilder("a");
        while (key.length() < 256) {
            key.append('b');
        }
        assertEquals(key + "=1", TraceContext.tracestate(lines(key + "=1")));
        assertNull(TraceContext.tracestate(lines(key + "b=1")));
        StringBuilder value = new StringBuilder();
        while (value.length() < 256) {
            value.append('v');
        }
        assertEquals("k=" + value, TraceContext.tracestate(lines("k=" + value)));
        assertNull(TraceContext.tracestate(lines("k=" + value + "v")));
        assertNull(TraceContext.tracestate(lines("t@abcdefghijklmno=1"))); // system of 15
        assertEquals("t@abcdefghijklmn=1", TraceContext.tracestate(lines("t@abcdefghijklmn=1")));
    }

    @Test
    void atMost32MembersAnd512Characters() {
        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            many.append(i == 0 ? "" : ",").append("k").append(i).append("=v");
        }
        String kept = TraceContext.tracestate(lines(many.toString()));
        assertEquals(32, kept.split(",").length);
        assertTrue(kept.startsWith("k0=v,k1=v,") && kept.endsWith(",k31=v"), kept);
        // Past 512 characters, members longer than 128 go first, then members from the right.
        StringBuilder big = new StringBuilder("big=");
        while (big.length() < 200) {
            big.append('x');
        }
        StringBuilder mid = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            mid.append(',').append("m").append(i).append('=');
            for (int j = 0; j < 90; j++) {
                mid.append('y');
            }
        }
        String cut = TraceContext.tracestate(lines("a=1," + big + mid));
        assertTrue(cut.length() <= 512, cut);
        assertTrue(cut.startsWith("a=1,m0="), cut);
        assertTrue(!cut.contains("big="), cut);
        assertEquals(6, cut.split(",").length); // a, m0..m4 (m5 cut from the right)
    }

    @Test
    void outgoingFlagsFollowTheCaller() {
        String fromRecorder = "00-" + TRACE + "-" + PARENT + "-01";
        // A trace begun here: sampled, and its id is random.
        assertEquals("00-" + TRACE + "-" + PARENT + "-03", TraceContext.outgoing(fromRecorder));
        assertNull(TraceContext.outgoingState());
        // Continued: the caller's sampled decision and random flag.
        TraceContext.set(new TraceContext(0, "congo=t61rcWkgMzE"));
        assertEquals("00-" + TRACE + "-" + PARENT + "-00", TraceContext.outgoing(fromRecorder));
        assertEquals("congo=t61rcWkgMzE", TraceContext.outgoingState());
        TraceContext.set(new TraceContext(TraceContext.SAMPLED | TraceContext.RANDOM, null));
        assertEquals("00-" + TRACE + "-" + PARENT + "-03", TraceContext.outgoing(fromRecorder));
        assertNull(TraceContext.outgoing(null));
    }
}
