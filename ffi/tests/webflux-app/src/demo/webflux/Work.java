package demo.webflux;

/** Work the tests hook as steps ({@code hook.methods=demo.webflux.Work.*}). */
public final class Work {
    private Work() {}

    /** Labels {@code id} with the kind of thread running it. */
    public static String slow(String id) {
        String thread = Thread.currentThread().getName();
        return id + " on " + (thread.startsWith("boundedElastic-") ? "elastic" : "other");
    }

    /** Work in a continuation (after a response or a delay). */
    public static String after(String id) {
        return "after " + id;
    }

    /** Work of no request (must never be recorded). */
    public static String untraced() {
        return "untraced";
    }
}
