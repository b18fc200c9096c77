package io.osprey.agent.bootstrap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The cap on distinct endpoint names. */
class EndpointsTest {
    @AfterEach
    void reset() {
        Endpoints.reset();
    }

    @Test
    void pastTheCapNewNamesAreOtherAndCounted() {
        assertNull(Endpoints.configure("2"));
        assertTrue(Endpoints.admit("GET /a"));
        assertTrue(Endpoints.admit("GET /b"));
        assertTrue(Endpoints.admit("GET /a")); // known: still fine
        assertEquals(2, Endpoints.admitted());
        assertTrue(Endpoints.known("GET /b"));
        assertFalse(Endpoints.known("GET /c"));
        assertFalse(Endpoints.admit("GET /c"));
        assertFalse(Endpoints.admit("POST other"));
        assertEquals(2, Endpoints.overflowed());
        assertEquals(2, Endpoints.admitted());
        assertEquals("GET other", Endpoints.other("GET"));
    }

    @Test
    void unknownMethodsAreHttp() {
        assertEquals("PATCH", Endpoints.method("PATCH"));
        assertEquals("HTTP", Endpoints.method("BREW"));
        assertEquals("HTTP", Endpoints.method(null));
        assertEquals("HTTP other", Endpoints.other("get"));
    }

    @Test
    void aBadCapIsNamedAndIgnored() {
        assertNotNull(Endpoints.configure("0"));
        assertNotNull(Endpoints.configure("lots"));
        assertEquals(Endpoints.DEFAULT_MAX, max());
    }

    private static int max() {
        int n = 0;
        while (Endpoints.known("GET /" + n) && n <= Endpoints.DEFAULT_MAX) {
            Endpoints.admit("GET /" + n);
            n++;
        }
        return n;
    }
}
