package io.osprey.agent.lib.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

class RequestFactsTest {
    @Test
    void theFirstCookieOfTheNameIsFoundTrimmed() {
        assertEquals("0123", RequestFacts.cookie("theme=dark; JSESSIONID=0123", "JSESSIONID"));
        assertEquals("0123", RequestFacts.cookie(" JSESSIONID = 0123 ;x=1", "JSESSIONID"));
        assertEquals("a=b", RequestFacts.cookie("JSESSIONID=a=b", "JSESSIONID"));
        assertEquals("1", RequestFacts.cookie("XJSESSIONID=2;;JSESSIONID=1;JSESSIONID=3;", "JSESSIONID"));
        assertNull(RequestFacts.cookie("JSESSIONID= ; JSESSIONID=1", "JSESSIONID"), "the first one is empty");
        assertNull(RequestFacts.cookie("=1; JSESSIONID", "JSESSIONID"));
        assertNull(RequestFacts.cookie("theme=dark", "JSESSIONID"));
        assertNull(RequestFacts.cookie("", "JSESSIONID"));
        assertNull(RequestFacts.cookie(null, "JSESSIONID"));
    }

    @Test
    void aRepeatedSessionCookieReusesItsHash() {
        RequestFacts f = new RequestFacts();
        String first = f.cookieHash("theme=dark; JSESSIONID=0123SECRET", "JSESSIONID");
        assertEquals(RequestFacts.hash("0123SECRET"), first);
        assertEquals(16, first.length());
        assertSame(first, f.cookieHash("JSESSIONID=0123SECRET; theme=light", "JSESSIONID"));
        String other = f.cookieHash("JSESSIONID=OTHER", "JSESSIONID");
        assertEquals(RequestFacts.hash("OTHER"), other);
        assertNotEquals(first, other);
        assertNull(f.cookieHash("theme=dark", "JSESSIONID"));
    }
}
