package io.osprey.agent.lib.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Path normalisation for route names: id segments and the user's patterns. */
class RoutesTest {
    @AfterEach
    void reset() {
        Routes.configure(null, null);
    }

    @Test
    void idSegmentsBecomePlaceholders() {
        assertEquals("/owners/{id}", Routes.normalize("/owners/17"));
        assertEquals("/owners/{id}/pets/{id}", Routes.normalize("/owners/17/pets/4"));
        assertEquals("/files/{id}", Routes.normalize("/files/123e4567-e89b-12d3-a456-426614174000"));
        assertEquals("/files/{id}", Routes.normalize("/files/123E4567-E89B-12D3-A456-426614174000"));
        assertEquals("/blobs/{id}/raw", Routes.normalize("/blobs/9f86d081884c7d659a2feaa0c55ad015/raw"));
        assertEquals("/{id}", Routes.normalize("/42"));
        assertEquals("/a/{id}/", Routes.normalize("/a/7/"));
    }

    @Test
    void otherSegmentsStayAndAnUnchangedPathIsTheSameString() {
        String path = "/owners/new/edit";
        assertSame(path, Routes.normalize(path));
        // Words, short hex, hex without a digit, version-like segments: kept.
        for (String p : new String[] {"/v1/items", "/cafe", "/deadbeef", "/abcdefabcdefabcdef", "/item-42", "/",
            "/files/123e4567-e89b-12d3-a456-42661417400g"}) {
            assertSame(p, Routes.normalize(p), p);
        }
        assertNull(Routes.normalize(null));
    }

    @Test
    void userPatternsComeFirst() {
        assertNull(Routes.configure("/files/*, /api/*/items, /static/*", null));
        assertEquals("/files/*", Routes.normalize("/files/a/b/c.txt"));
        assertEquals("/files/*", Routes.normalize("/files/x"));
        assertEquals("/files", Routes.normalize("/files")); // nothing after the prefix
        assertEquals("/api/*/items", Routes.normalize("/api/shop/items"));
        assertEquals("/api/shop/items/{id}", Routes.normalize("/api/shop/items/3")); // one segment too many
        assertEquals("/apix/{id}", Routes.normalize("/apix/3"));
        // A malformed pattern is named and skipped; ids can be switched off.
        assertNotNull(Routes.configure("files/*", "false"));
        assertEquals("/owners/17", Routes.normalize("/owners/17"));
    }
}
