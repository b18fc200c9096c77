package io.osprey.agent.lib.servlet;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * What a server transaction learns from its request at entry, by configuration: the inbound
 * parent (W3C {@code traceparent}, else B3 in its single or multi-header form), the client address
 * (the remote address, or the first address of a forwarding header such as {@code
 * X-Forwarded-For}), the user (a hash of a session cookie, a header, or the authenticated remote
 * user), and the query parameters allowed to be kept. Secrets stay in: a cookie is only ever
 * hashed, and query values not allow-listed are dropped.
 */
final class RequestFacts {
    /** {@code http.client_ip_header}: null for the connection's remote address. */
    private static volatile String clientIpHeader;
    /** {@code http.user}: where the user id comes from. */
    private static volatile UserSource userSource = new UserSource("cookie:JSESSIONID");
    /** {@code http.query.allow}: parameter names whose values are kept (lower case). */
    private static volatile Set<String> queryAllow = new HashSet<String>();

    String inboundParent;
    /** What the transaction continues from its caller (flags, {@code tracestate}); null for none. */
    TraceContext inbound;
    String clientAddress;
    String peerAddress;
    String user;
    String query;
    /** The session cookie value last hashed on this thread, and its hash (it repeats per user). */
    private String lastCookie;
    private String lastCookieHash;
    /** This thread's SHA-256 digest, reused. */
    private MessageDigest sha256;

    RequestFacts() {}

    /**
     * Applies the agent's settings; a malformed one is reported by the returned text (null when
     * all were accepted) and leaves the default.
     */
    static String configure(String ipHeader, String user, String allow) {
        clientIpHeader = ipHeader == null || ipHeader.trim().isEmpty() ? null : ipHeader.trim();
        Set<String> names = new HashSet<String>();
        if (allow != null) {
            for (String n : allow.split("[,\\s]+")) {
                if (!n.isEmpty()) {
                    names.add(n.toLowerCase(Locale.ROOT));
                }
            }
        }
        queryAllow = names;
        if (user == null) {
            return null;
        }
        UserSource source = new UserSource(user.trim());
        if (source.kind == 0) {
            return "http.user=" + user + ": expected cookie:NAME, header:NAME, remote_user or none";
        }
        userSource = source;
        return null;
    }

    /** Reads the facts of {@code request} through its accessors into {@code f} (reused). */
    static RequestFacts read(Servers.Accessors a, Object request, RequestFacts f) {
        f.peerAddress = null;
        f.inboundParent = inboundParent(a, request, f);
        String remote = a.string(a.remoteAddr, request, null);
        String header = clientIpHeader;
        String forwarded = header == null ? null : firstAddress(a.string(a.header, request, header));
        if (forwarded != null) {
            f.clientAddress = forwarded;
            f.peerAddress = remote;
        } else {
            f.clientAddress = remote;
        }
        f.user = userSource.user(a, request, f);
        Set<String> allow = queryAllow;
        // Asked only when needed: the container builds the string on demand.
        f.query = allow.isEmpty() ? null : allowedQuery(a.string(a.queryString, request, null), allow);
        return f;
    }

    /**
     * The parent to continue: a single valid W3C {@code traceparent} (with its {@code
     * tracestate}, see {@link TraceContext}); else (none, repeated or malformed) B3 in its single
     * or multi-header form; else null, a new trace. Sets {@code f.inbound}.
     */
    private static String inboundParent(Servers.Accessors a, Object request, RequestFacts f) {
        f.inbound = null;
        String first = a.string(a.header, request, TraceContext.TRACEPARENT);
        if (first != null) {
            String parent = TraceContext.traceparent(a.headerLines(request, TraceContext.TRACEPARENT, first));
            if (parent != null) {
                String state = a.string(a.header, request, TraceContext.TRACESTATE);
                f.inbound = new TraceContext(TraceContext.flagsOf(parent),
                        TraceContext.tracestate(a.headerLines(request, TraceContext.TRACESTATE, state)));
                return parent;
            }
        }
        String b3 = a.string(a.header, request, "b3");
        if (b3 != null) {
            f.inbound = new TraceContext(b3Sampled(b3) ? TraceContext.SAMPLED : 0, null);
            return b3;
        }
        String trace = a.string(a.header, request, "X-B3-TraceId");
        String span = a.string(a.header, request, "X-B3-SpanId");
        if (trace == null || span == null) {
            return null;
        }
        String sampled = a.string(a.header, request, "X-B3-Sampled");
        f.inbound = new TraceContext("0".equals(sampled == null ? null : sampled.trim()) ? 0 : TraceContext.SAMPLED, null);
        return trace.trim() + "-" + span.trim() + (sampled == null ? "" : "-" + sampled.trim());
    }

    /** Whether a B3 single header ({@code trace-span[-sampled[-parent]]} or {@code 0}) is sampled. */
    static boolean b3Sampled(String b3) {
        String[] parts = b3.trim().split("-");
        String flag = parts.length == 1 ? parts[0] : parts.length >= 3 ? parts[2] : "1";
        return !"0".equals(flag);
    }

    /** The first address of a forwarding header's comma-separated list; null when empty. */
    static String firstAddress(String value) {
        if (value == null) {
            return null;
        }
        int comma = value.indexOf(',');
        String first = (comma < 0 ? value : value.substring(0, comma)).trim();
        return first.isEmpty() ? null : first;
    }

    /** The {@code name=value} pairs of {@code query} whose names are allowed, in order; else null. */
    static String allowedQuery(String query, Set<String> allowed) {
        if (query == null || allowed.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            String name = eq < 0 ? pair : pair.substring(0, eq);
            if (allowed.contains(name.toLowerCase(Locale.ROOT))) {
                if (sb.length() > 0) {
                    sb.append('&');
                }
                sb.append(pair);
            }
        }
        return sb.length() == 0 ? null : sb.toString();
    }

    /** The value of cookie {@code name} in a {@code Cookie} header; null when absent. */
    static String cookie(String header, String name) {
        long range = cookieRange(header, name);
        return range < 0 ? null : header.substring((int) (range >>> 32), (int) range);
    }

    /**
     * Where the value of cookie {@code name} is in a {@code Cookie} header, as {@code from << 32 |
     * to} (trimmed); -1 when absent or empty. The first part named {@code name} counts. Allocates
     * nothing.
     */
    static long cookieRange(String header, String name) {
        if (header == null) {
            return -1L;
        }
        int n = header.length();
        int start = 0;
        while (start <= n) {
            int end = header.indexOf(';', start);
            if (end < 0) {
                end = n;
            }
            int eq = header.indexOf('=', start);
            if (eq > start && eq < end) {
                int a = start;
                int b = eq;
                while (a < b && header.charAt(a) <= ' ') {
                    a++;
                }
                while (b > a && header.charAt(b - 1) <= ' ') {
                    b--;
                }
                if (b - a == name.length() && header.regionMatches(a, name, 0, b - a)) {
                    int from = eq + 1;
                    int to = end;
                    while (from < to && header.charAt(from) <= ' ') {
                        from++;
                    }
                    while (to > from && header.charAt(to - 1) <= ' ') {
                        to--;
                    }
                    return from == to ? -1L : ((long) from << 32) | to;
                }
            }
            start = end + 1;
        }
        return -1L;
    }

    /**
     * {@link #hash} of the value of cookie {@code name} in {@code header} (null when absent): the
     * previous hash on this thread when the value is the same, without copying it.
     */
    String cookieHash(String header, String name) {
        long range = cookieRange(header, name);
        if (range < 0) {
            return null;
        }
        int from = (int) (range >>> 32);
        int len = (int) range - from;
        String last = lastCookie;
        if (last != null && last.length() == len && header.regionMatches(from, last, 0, len)) {
            return lastCookieHash;
        }
        String value = header.substring(from, from + len);
        if (sha256 == null) {
            try {
                sha256 = MessageDigest.getInstance("SHA-256");
            } catch (Exception e) {
                return null;
            }
        }
        String h = hash(sha256, value);
        lastCookie = value;
        lastCookieHash = h;
        return h;
    }

    /** 16 hex digits of the SHA-256 of {@code value}: stable across JVMs, not reversible. */
    static String hash(String value) {
        try {
            return hash(MessageDigest.getInstance("SHA-256"), value);
        } catch (Exception e) {
            return null;
        }
    }

    private static String hash(MessageDigest sha256, String value) {
        byte[] d = sha256.digest(value.getBytes(StandardCharsets.UTF_8));
        char[] hex = new char[16];
        for (int i = 0; i < 8; i++) {
            hex[2 * i] = Character.forDigit((d[i] >> 4) & 0xF, 16);
            hex[2 * i + 1] = Character.forDigit(d[i] & 0xF, 16);
        }
        return new String(hex);
    }

    /** Parsed {@code http.user}. */
    static final class UserSource {
        /** 0 invalid, 1 cookie, 2 header, 3 remote user, 4 none. */
        final int kind;
        final String name;

        UserSource(String spec) {
            String lower = spec.toLowerCase(Locale.ROOT);
            if (lower.startsWith("cookie:") && spec.length() > 7) {
                kind = 1;
                name = spec.substring(7).trim();
            } else if (lower.startsWith("header:") && spec.length() > 7) {
                kind = 2;
                name = spec.substring(7).trim();
            } else if (lower.equals("remote_user")) {
                kind = 3;
                name = null;
            } else if (lower.equals("none")) {
                kind = 4;
                name = null;
            } else {
                kind = 0;
                name = null;
            }
        }

        /** The user of {@code request}; {@code f} keeps the thread's last cookie hash. */
        String user(Servers.Accessors a, Object request, RequestFacts f) {
            switch (kind) {
                case 1:
                    return f.cookieHash(a.string(a.header, request, "cookie"), name);
                case 2:
                    return a.string(a.header, request, name);
                case 3:
                    return a.string(a.remoteUser, request, null);
                default:
                    return null;
            }
        }
    }
}
