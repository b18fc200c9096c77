package io.osprey.agent.bootstrap;

/**
 * W3C Trace Context, levels 1 and 2: what a server transaction continues from its caller and
 * what its outgoing calls carry.
 *
 * <ul>
 *   <li>{@code traceparent}: exactly one header line, parsed as the specification says: version
 *       {@code ff} and upper-case hex are invalid, version {@code 00} is exactly 55 characters, a
 *       higher (future) version is read by its first four fields when it is 55 characters long
 *       or the 56th is a {@code -}, with only the flags this version knows (sampled {@code 01},
 *       random {@code 02}); all-zero ids are invalid. A duplicated or malformed header is no
 *       parent: the transaction starts a new trace and {@code tracestate} is not continued.
 *   <li>{@code tracestate}: all header lines combined, list members trimmed of optional white
 *       space, empty ones skipped. A header with a member outside the grammar (key or value), a
 *       repeated key or more than 32 members is invalid and not continued at all, as the
 *       specification's test suite requires (its strict level). A valid one is sent on, cut to
 *       512 characters when longer (members longer than 128 characters go first, then members
 *       from the right).
 *   <li>outgoing: the recorder's {@code traceparent} (version 00, this step's span id) with the
 *       flags of the caller kept (its sampled decision and its random flag), or, on a new trace,
 *       sampled and random (the recorder draws trace ids at random); {@code tracestate} forwarded
 *       unchanged.
 * </ul>
 *
 * What a transaction continued is kept per thread ({@link #current}), set by the server
 * instrumentation at the transaction's start and cleared at its end (and carried along when an
 * asynchronous request's transaction moves between threads). Nothing here throws.
 */
public final class TraceContext {
    /** The W3C parent header. */
    public static final String TRACEPARENT = "traceparent";
    /** The W3C vendor state header. */
    public static final String TRACESTATE = "tracestate";
    /** Flag: the caller may have recorded the trace. */
    public static final int SAMPLED = 0x01;
    /** Flag (level 2): the trace id's right-most 7 bytes are random. */
    public static final int RANDOM = 0x02;
    /** Most list members kept. */
    public static final int MAX_MEMBERS = 32;
    /** Longest combined {@code tracestate} kept, in characters. */
    public static final int MAX_LENGTH = 512;
    /** Members longer than this go first when the combined header is too long. */
    public static final int LARGE_MEMBER = 128;

    private static final int LENGTH_00 = 55;

    private static final ThreadLocal<TraceContext> CURRENT = new ThreadLocal<TraceContext>();

    /** The caller's flags ({@link #SAMPLED}, {@link #RANDOM}). */
    public final int flags;
    /** The {@code tracestate} to forward; null when none. */
    public final String tracestate;

    /** What a transaction continued: the caller's flags and its (cleaned) {@code tracestate}. */
    public TraceContext(int flags, String tracestate) {
        this.flags = flags;
        this.tracestate = tracestate;
    }

    /** What this thread's transaction continued; null for none (a new trace). */
    public static TraceContext current() {
        return CURRENT.get();
    }

    /** Sets (null: clears) what this thread's transaction continued. */
    public static void set(TraceContext context) {
        if (context == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(context);
        }
    }

    /**
     * The version-00 form of a single {@code traceparent} header ({@code 00-<trace>-<parent>-<flags>},
     * flags reduced to the known ones), or null when it is invalid.
     */
    public static String parseTraceparent(String header) {
        if (header == null) {
            return null;
        }
        String h = trimOws(header);
        int n = h.length();
        if (n < LENGTH_00 || h.charAt(2) != '-' || h.charAt(35) != '-' || h.charAt(52) != '-') {
            return null;
        }
        int version = hexByte(h, 0);
        if (version < 0 || version == 0xff) {
            return null;
        }
        if (version == 0 ? n != LENGTH_00 : n > LENGTH_00 && h.charAt(LENGTH_00) != '-') {
            return null;
        }
        if (!lowerHex(h, 3, 35) || !lowerHex(h, 36, 52) || allZero(h, 3, 35) || allZero(h, 36, 52)) {
            return null;
        }
        int flags = hexByte(h, 53);
        if (flags < 0) {
            return null;
        }
        flags &= SAMPLED | RANDOM;
        return "00-" + h.substring(3, 52) + (flags < 0x10 ? "-0" : "-") + Integer.toHexString(flags);
    }

    /**
     * The single {@code traceparent} among a request's header lines ({@code values}, as the server
     * reports them: null or empty for none), in version-00 form; null when absent, repeated or
     * invalid.
     */
    public static String traceparent(String[] values) {
        if (values == null || values.length != 1) {
            return null;
        }
        return parseTraceparent(values[0]);
    }

    /** The flags of a version-00 header from {@link #parseTraceparent}. */
    public static int flagsOf(String traceparent00) {
        return hexByte(traceparent00, 53);
    }

    /**
     * The {@code tracestate} to continue from a request's header lines (combined in order), cut to
     * {@link #MAX_LENGTH}; null when there is none or it is invalid (a member outside the grammar,
     * a repeated key, more than {@link #MAX_MEMBERS} members).
     */
    public static String tracestate(String[] values) {
        if (values == null || values.length == 0) {
            return null;
        }
        java.util.List<String> members = new java.util.ArrayList<String>();
        java.util.Set<String> keys = new java.util.HashSet<String>();
        for (String line : values) {
            if (line == null) {
                continue;
            }
            int start = 0;
            int len = line.length();
            while (start <= len) {
                int comma = line.indexOf(',', start);
                int end = comma < 0 ? len : comma;
                String member = trimOws(line.substring(start, end));
                if (!member.isEmpty()) {
                    int eq = member.indexOf('=');
                    if (eq <= 0 || !validKey(member, eq) || !validValue(member, eq + 1)
                            || !keys.add(member.substring(0, eq)) || members.size() == MAX_MEMBERS) {
                        return null;
                    }
                    members.add(member);
                }
                start = end + 1;
            }
        }
        int total = combinedLength(members);
        for (int i = members.size() - 1; total > MAX_LENGTH && i >= 0; i--) {
            if (members.get(i).length() > LARGE_MEMBER) {
                members.remove(i);
                total = combinedLength(members);
            }
        }
        while (total > MAX_LENGTH) {
            members.remove(members.size() - 1);
            total = combinedLength(members);
        }
        if (members.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder(total);
        for (String m : members) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(m);
        }
        return sb.toString();
    }

    /**
     * The {@code traceparent} an outgoing call carries: the recorder's ({@code fromRecorder},
     * naming the calling step) with the flags of what this thread's transaction continued, or
     * sampled and random on a trace it began. Null stays null.
     */
    public static String outgoing(String fromRecorder) {
        if (fromRecorder == null || fromRecorder.length() != LENGTH_00) {
            return fromRecorder;
        }
        TraceContext c = CURRENT.get();
        int flags = c == null ? SAMPLED | RANDOM : c.flags;
        return fromRecorder.substring(0, 53) + (flags < 0x10 ? "0" : "") + Integer.toHexString(flags);
    }

    /** The {@code tracestate} an outgoing call carries: what this thread's transaction continued. */
    public static String outgoingState() {
        TraceContext c = CURRENT.get();
        return c == null ? null : c.tracestate;
    }

    private static int combinedLength(java.util.List<String> members) {
        int n = members.isEmpty() ? 0 : members.size() - 1;
        for (String m : members) {
            n += m.length();
        }
        return n;
    }

    /**
     * {@code key = simple-key / multi-tenant-key}: {@code lcalpha 0*255(lcalpha / DIGIT / "_" / "-"
     * / "*" / "/")}, or {@code tenant@system} with a tenant of 1 to 241 such characters starting
     * with a letter or digit and a system of 1 to 14 starting with a letter.
     */
    static boolean validKey(String member, int end) {
        int at = member.indexOf('@');
        if (at < 0 || at > end) {
            return end <= 256 && isLcAlpha(member.charAt(0)) && keyChars(member, 1, end);
        }
        int tenant = at;
        int system = end - at - 1;
        return tenant >= 1 && tenant <= 241 && system >= 1 && system <= 14
                && (isLcAlpha(member.charAt(0)) || isDigit(member.charAt(0))) && keyChars(member, 1, at)
                && isLcAlpha(member.charAt(at + 1)) && keyChars(member, at + 2, end);
    }

    /**
     * {@code value = 0*255(chr) nblk-chr}: 1 to 256 printable ASCII characters but {@code ,} and
     * {@code =}, the last not a space.
     */
    static boolean validValue(String member, int from) {
        int n = member.length() - from;
        if (n < 1 || n > 256 || member.charAt(member.length() - 1) == ' ') {
            return false;
        }
        for (int i = from; i < member.length(); i++) {
            char c = member.charAt(i);
            if (c < 0x20 || c > 0x7e || c == ',' || c == '=') {
                return false;
            }
        }
        return true;
    }

    private static boolean keyChars(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (!(isLcAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '*' || c == '/')) {
                return false;
            }
        }
        return true;
    }

    private static boolean isLcAlpha(char c) {
        return c >= 'a' && c <= 'z';
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** Without optional white space (space and tab) at either end. */
    static String trimOws(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && (s.charAt(a) == ' ' || s.charAt(a) == '\t')) {
            a++;
        }
        while (b > a && (s.charAt(b - 1) == ' ' || s.charAt(b - 1) == '\t')) {
            b--;
        }
        return a == 0 && b == s.length() ? s : s.substring(a, b);
    }

    private static boolean lowerHex(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (!(isDigit(c) || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    private static boolean allZero(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            if (s.charAt(i) != '0') {
                return false;
            }
        }
        return true;
    }

    /** The lower-case hex byte at {@code at}; -1 when it is not one. */
    private static int hexByte(String s, int at) {
        if (s == null || s.length() < at + 2 || !lowerHex(s, at, at + 2)) {
            return -1;
        }
        return Character.digit(s.charAt(at), 16) * 16 + Character.digit(s.charAt(at + 1), 16);
    }
}
