package demo.logs;

/**
 * Log lines through Logback (SLF4J), Log4j 2 and {@code java.util.logging}, each with a pattern
 * that prints {@code %X{trace_id}} and {@code %X{span_id}} (JUL: the agent's formatter), outside
 * any transaction and inside one ({@link #request}, a transaction under the agent's {@code
 * hook.transactions}) and one of its steps ({@link #step}, a hooked method).
 */
public final class LogsApp {
    private static final org.slf4j.Logger LOGBACK = org.slf4j.LoggerFactory.getLogger("demo.logback");
    private static final org.apache.logging.log4j.Logger LOG4J =
            org.apache.logging.log4j.LogManager.getLogger("demo.log4j");
    private static final java.util.logging.Logger JUL = java.util.logging.Logger.getLogger("demo.jul");

    private LogsApp() {}

    public static void main(String[] args) {
        log("outside");
        request();
    }

    /** One transaction. */
    public static void request() {
        log("request");
        step();
    }

    /** A step of it. */
    public static void step() {
        log("step");
    }

    static void log(String where) {
        LOGBACK.info("logback {}", where);
        LOG4J.info("log4j {}", where);
        JUL.info("jul " + where);
    }
}
