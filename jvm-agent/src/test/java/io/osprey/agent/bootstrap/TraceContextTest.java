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
    void tracestateLinesAreCombinedInOrderWithOptionalWhiteSpaceTrimmed() {
        assertEquals("foo=1,bar=2,rojo=1,congo=2,baz=3",
                TraceContext.tracestate(lines("foo=1,bar=2", "rojo=1,congo=2", "baz=3")));
        assertEquals("foo=1,bar=2,baz=3", TraceContext.tracestate(lines("foo=1 \t , \t bar=2, \t baz=3")));
        assertEquals("foo=1,bar=2,baz=3", TraceContext.tracestate(lines("foo=1\t \t,\t \tbar=2,\t \tbaz=3")));
        for (String ows : new String[] {" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"}) {
            assertEquals("foo=1", TraceContext.tracestate(lines(ows)), ows);
        }
        // Empty members are allowed and skipped; a value keeps its inner spaces.
        assertEquals("a=1,b=2", TraceContext.tracestate(lines(",a=1 , ,\tb=2,")));
        assertEquals("k=a b", TraceContext.tracestate(lines("k=a b ")));
        assertNull(TraceContext.tracestate(lines("")));
        assertNull(TraceContext.tracestate(lines(" , ")));
        assertNull(TraceContext.tracestate(null));
    }

    @Test
    void everyAllowedCharacterIsKept() {
        StringBuilder key = new StringBuilder();
        for (char c = 'a'; c <= 'z'; c++) {
            key.append(c);
        }
        key.append("0123456789_-*/");
        StringBuilder value = new StringBuilder();
        for (char c = 0x20; c <= 0x7e; c++) {
            if (c != ',' && c != '=') {
                value.append(c);
            }
        }
        String member = key + "=" + value;
        assertEquals(member, TraceContext.tracestate(lines(member)));
        String vendor = key + "@a-z0-9_-*/=" + value;
        assertEquals(vendor, TraceContext.tracestate(lines(vendor)));
    }

    @Test
    void anInvalidMemberOrARepeatedKeyDiscardsTheHeader() {
        String[][] bad = {
            {"foo=1,foo=1"}, {"foo=1,foo=2"}, {"foo=1", "foo=1"}, {"foo=1", "foo=2"}, // repeated keys
            {"foo =1"}, {"FOO=1"}, {"foo.bar=1"}, {"ok=1,Upper=1"}, // illegal keys
            {"foo@=1,bar=2"}, {"@foo=1,bar=2"}, {"foo@@bar=1,bar=2"}, {"foo@bar@baz=1,bar=2"}, // vendor format
            {"1bad=2,ok=1"}, {"t@1sys=v"}, {"=v"}, {"k="}, {"k=a=b"}, {"n"}, {"k=caf\u00e9"},
        };
        for (String[] b : bad) {
            assertNull(TraceContext.tracestate(b), String.join("|", b));
        }
        assertEquals("t1@sys=v,x_-*/9=z,1a@b=c", TraceContext.tracestate(lines("t1@sys=v,x_-*/9=z,1a@b=c")));
    }

    @Test
    void keyAndValueLengthLimits() {
        assertEquals("foo=1," + repeat('z', 256) + "=1", TraceContext.tracestate(lines("foo=1", repeat('z', 256) + "=1")));
        assertNull(TraceContext.tracestate(lines("foo=1", repeat('z', 257) + "=1")));
        String tenant = repeat('t', 241) + "@" + repeat('v', 14) + "=1";
        assertEquals("foo=1," + tenant, TraceContext.tracestate(lines("foo=1", tenant)));
        assertNull(TraceContext.tracestate(lines("foo=1", repeat('t', 242) + "@v=1")));
        assertNull(TraceContext.tracestate(lines("foo=1", "t@" + repeat('v', 15) + "=1")));
        assertEquals("k=" + repeat('v', 256), TraceContext.tracestate(lines("k=" + repeat('v', 256))));
        assertNull(TraceContext.tracestate(lines("k=" + repeat('v', 257))));
    }

    @Test
    void at32MembersTheHeaderIsKeptAt33Discarded() {
        String[] ten = {
            "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
            "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
            "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
        };
        String kept = TraceContext.tracestate(lines(ten[0], ten[1], ten[2], "bar31=31,bar32=32"));
        assertEquals(32, kept.split(",").length);
        assertTrue(kept.startsWith("bar01=01,"), kept);
        assertNull(TraceContext.tracestate(lines(ten[0], ten[1], ten[2], "bar31=31,bar32=32,bar33=33")));
    }

    @Test
    void past512CharactersLargeMembersGoFirstThenFromTheRight() {
        String big = "big=" + repeat('x', 196);
        StringBuilder mid = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            mid.append(',').append("m").append(i).append('=').append(repeat('y', 90));
        }
        String cut = TraceContext.tracestate(lines("a=1," + big + mid));
        assertTrue(cut.length() <= 512, cut);
        assertTrue(cut.startsWith("a=1,m0="), cut);
        assertTrue(!cut.contains("big="), cut);
        assertEquals(6, cut.split(",").length); // a, m0..m4 (m5 cut from the right)
    }

    private static String repeat(char c, int n) {
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append(c);
        }
        return sb.toString();
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
