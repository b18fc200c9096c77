package io.osprey.agent.lib.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import sample.FakeConnectorRequest;
import sample.FakeConnectorRequest.Match;

class TomcatRequestsTest {
    @Test
    void theSameRawUriReusesTheDecodedStringAndADifferentOneIsDecoded() {
        FakeConnectorRequest request = new FakeConnectorRequest();
        Servers.Accessors a = new Servers.Accessors(request.getClass());
        Servers.ServletState state = new Servers.ServletState();
        TomcatRequests t = TomcatRequests.of(request);
        assertNotNull(t);

        request.uri("/bench/é", 3);
        String first = t.uri(a, request, state);
        assertEquals("/bench/é", first);
        assertEquals(1, request.decoded);

        // The next request: same bytes elsewhere in another buffer.
        request.uri("/bench/é", 11);
        assertSame(first, t.uri(a, request, state));
        assertEquals(1, request.decoded, "not decoded again");

        request.uri("/bench/x", 3);
        assertEquals("/bench/x", t.uri(a, request, state));
        request.uri("/bench", 0);
        assertEquals("/bench", t.uri(a, request, state));
        request.uri("/bench/x/longer", 0);
        assertEquals("/bench/x/longer", t.uri(a, request, state));
        assertEquals(4, request.decoded);
    }

    @Test
    void onlyPathAndExtensionMatchesAskForTheRoute() {
        FakeConnectorRequest request = new FakeConnectorRequest();
        TomcatRequests t = TomcatRequests.of(request);
        assertSame(request.facade, t.facade(request));
        assertFalse(t.routed(request), "no match type: not mapped by a pattern");
        for (Match m : Match.values()) {
            request.mapping.matchType = m;
            assertEquals(m == Match.PATH || m == Match.EXTENSION, t.routed(request), m.name());
        }
    }

    @Test
    void otherRequestsTakeThePortablePath() {
        assertNull(TomcatRequests.of(new Object()));
        assertNotNull(TomcatRequests.of(new FakeConnectorRequest()));
        assertTrue(TomcatRequests.of("a string") == null);
    }

    @Test
    void aRepeatedRouteReusesItsName() {
        Servers.ServletState s = new Servers.ServletState();
        String first = s.route("GET", "/app", "/api/*");
        assertEquals("GET /app/api/*", first);
        assertSame(first, s.route("GET", "/app", "/api/*"));
        assertEquals("POST /app/api/*", s.route("POST", "/app", "/api/*"));
        assertEquals("POST /*.do", s.route("POST", "", "*.do"));
    }
}
