package io.osprey.agent.lib.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class ServersTest {
    @Test
    void helpersNeverThrowWhenOff() {
        assertEquals(0L, Servers.enter(new Object()));
        Servers.exit(0L, null, null);
    }

    @Test
    void pathsDropQueryAndPathParameters() {
        assertEquals("/a/b", Servers.path("/a/b?x=1"));
        assertEquals("/a", Servers.path("/a;jsessionid=S?x"));
        assertNull(Servers.path(null));
    }
}
