package io.osprey.agent.lib.servlet;

import java.util.ArrayList;
import java.util.List;

/**
 * Route names for paths no framework names: the user's rules ({@code url.normalize}, e.g. {@code
 * /files/*}) first, then (unless {@code url.normalize.ids=false}) every path segment that is a
 * number, a UUID or a long hexadecimal id (16 or more hex digits, at least one a digit) becomes
 * {@code {id}}: {@code /owners/17/pets/9f1c...} → {@code /owners/{id}/pets/{id}}. A path that
 * needs no change is returned as it is (nothing allocated). Nothing here throws.
 */
public final class Routes {
    /** The placeholder of an id segment. */
    public static final String ID = "{id}";
    /** Shortest hexadecimal segment taken for an id. */
    static final int MIN_HEX_ID = 16;

    private static volatile Rule[] rules = new Rule[0];
    private static volatile boolean ids = true;

    private Routes() {}

    /**
     * Applies {@code url.normalize} (comma-separated path patterns: {@code *} is one segment, a
     * trailing {@code *} the rest of the path) and {@code url.normalize.ids}. Returns a complaint
     * about a malformed pattern (which is skipped), or null.
     */
    public static String configure(String patterns, String idsFlag) {
        ids = !"false".equalsIgnoreCase(idsFlag == null ? null : idsFlag.trim());
        List<Rule> out = new ArrayList<Rule>();
        String complaint = null;
        if (patterns != null) {
            for (String p : patterns.split(",")) {
                String t = p.trim();
                if (t.isEmpty()) {
                    continue;
                }
                if (!t.startsWith("/")) {
                    complaint = "url.normalize=" + t + ": a pattern starts with /";
                    continue;
                }
                out.add(new Rule(t));
            }
        }
        rules = out.toArray(new Rule[0]);
        return complaint;
    }

    /** The route name of {@code path} (null stays null). */
    public static String normalize(String path) {
        if (path == null) {
            return null;
        }
        for (Rule r : rules) {
            if (r.matches(path)) {
                return r.pattern;
            }
        }
        return ids ? ids(path) : path;
    }

    /** {@code path} with its id segments replaced by {@link #ID}; the same String when none is. */
    static String ids(String path) {
        StringBuilder sb = null;
        int n = path.length();
        int start = 0;
        while (start <= n) {
            int end = path.indexOf('/', start);
            if (end < 0) {
                end = n;
            }
            boolean id = isId(path, start, end);
            if (id && sb == null) {
                sb = new StringBuilder(n).append(path, 0, start);
            }
            if (sb != null) {
                if (id) {
                    sb.append(ID);
                } else {
                    sb.append(path, start, end);
                }
                if (end < n) {
                    sb.append('/');
                }
            }
            start = end + 1;
        }
        return sb == null ? path : sb.toString();
    }

    /** Whether {@code s[from, to)} is a number, a UUID or a long hexadecimal id. */
    static boolean isId(String s, int from, int to) {
        int len = to - from;
        if (len <= 0) {
            return false;
        }
        boolean digits = true;
        boolean hex = true;
        boolean anyDigit = false;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            boolean d = c >= '0' && c <= '9';
            anyDigit |= d;
            digits &= d;
            hex &= d || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        }
        if (digits || (hex && len >= MIN_HEX_ID && anyDigit)) {
            return true;
        }
        return len == 36 && isUuid(s, from);
    }

    private static boolean isUuid(String s, int from) {
        for (int i = 0; i < 36; i++) {
            char c = s.charAt(from + i);
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (c != '-') {
                    return false;
                }
            } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return false;
            }
        }
        return true;
    }

    /** One {@code url.normalize} pattern. */
    static final class Rule {
        final String pattern;
        private final String[] segments;
        private final boolean rest;

        Rule(String pattern) {
            this.pattern = pattern;
            String body = pattern.substring(1);
            boolean r = body.endsWith("*") && (body.length() == 1 || body.endsWith("/*"));
            this.rest = r;
            String fixed = r ? body.substring(0, body.length() - 1) : body;
            if (fixed.endsWith("/")) {
                fixed = fixed.substring(0, fixed.length() - 1);
            }
            this.segments = fixed.isEmpty() ? new String[0] : fixed.split("/", -1);
        }

        /** {@code *} matches one segment; a trailing {@code *} the rest (at least one character). */
        boolean matches(String path) {
            if (!path.startsWith("/")) {
                return false;
            }
            int pos = 1;
            for (String seg : segments) {
                if (pos > path.length()) {
                    return false; // the path ran out
                }
                int end = path.indexOf('/', pos);
                if (end < 0) {
                    end = path.length();
                }
                boolean any = seg.equals("*");
                if (any ? end == pos : end - pos != seg.length() || !path.regionMatches(pos, seg, 0, seg.length())) {
                    return false;
                }
                pos = end + 1;
            }
            return rest ? pos < path.length() : pos > path.length();
        }
    }
}
