package io.osprey.agent.lib.webflux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.osprey.agent.bootstrap.TraceContext;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The request reading of {@link WebFlux}, on header maps as Spring 5 and 6 hand them over. */
class WebFluxTest {
    private static final String PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    static Map<String, List<String>> headers(String... pairs) {
        Map<String, List<String>> m = new LinkedHashMap<String, List<String>>();
        for (int i = 0; i < pairs.length; i += 2) {
            List<String> values = m.get(pairs[i]);
            if (values == null) {
                values = new java.util.ArrayList<String>();
                m.put(pairs[i], values);
            }
            values.add(pairs[i + 1]);
        }
        return m;
    }

    @Test
    void headerLinesAreReadInOrder() {
        Map<String, List<String>> h = headers("tracestate", "a=1", "tracestate", "b=2");
        assertArrayEquals(new String[] {"a=1", "b=2"}, WebFlux.values(h, "tracestate"));
        assertEquals("a=1", WebFlux.first(h, "tracestate"));
        assertNull(WebFlux.values(h, "traceparent"));
        assertNull(WebFlux.values(Collections.singletonMap("x", Collections.emptyList()), "x"));
        assertNull(WebFlux.values(null, "x"));
    }

    @Test
    void aSingleValidTraceparentIsContinuedWithItsState() {
        WebFlux.Inbound in = WebFlux.Inbound.of(headers("traceparent", PARENT, "tracestate", "vendor=abc"));
        assertEquals(PARENT, in.parent);
        assertEquals(TraceContext.SAMPLED, in.context.flags & TraceContext.SAMPLED);
        assertEquals("vendor=abc", in.context.tracestate);
    }

    @Test
    void aRepeatedOrMalformedTraceparentFallsBackToB3OrANewTrace() {
        WebFlux.Inbound repeated = WebFlux.Inbound.of(headers("traceparent", PARENT, "traceparent", PARENT));
        assertNull(repeated.parent);
        assertNull(repeated.context);
        WebFlux.Inbound malformed = WebFlux.Inbound.of(headers("traceparent", "00-xyz", "b3",
                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"));
        assertEquals("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0", malformed.parent);
        assertEquals(0, malformed.context.flags & TraceContext.SAMPLED);
    }

    @Test
    void multiHeaderB3IsJoined() {
        WebFlux.Inbound in = WebFlux.Inbound.of(headers("X-B3-TraceId", " 80f198ee56343ba864fe8b2a57d3eff7",
                "X-B3-SpanId", "e457b5a2e4d86bd1", "X-B3-Sampled", "1"));
        assertEquals("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1", in.parent);
        assertEquals(TraceContext.SAMPLED, in.context.flags);
        assertNull(WebFlux.Inbound.of(headers("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7")).parent);
        assertNull(WebFlux.Inbound.of(Arrays.asList("not headers")).parent);
    }
}
