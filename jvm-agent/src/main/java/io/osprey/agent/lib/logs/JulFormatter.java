package io.osprey.agent.lib.logs;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.logging.Formatter;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;

/**
 * A {@code java.util.logging} formatter that prints the current transaction's trace and span ids:
 * {@code handlers.ConsoleHandler.formatter=io.osprey.agent.lib.logs.JulFormatter}. Its format
 * ({@code io.osprey.agent.lib.logs.JulFormatter.format} in the logging configuration) takes
 * {@code SimpleFormatter}'s arguments ({@code %1$} date, {@code %2$} source, {@code %3$} logger,
 * {@code %4$} level, {@code %5$} message, {@code %6$} thrown) plus {@code %7$s} the trace id and
 * {@code %8$s} the span id (empty outside a transaction). Never throws.
 */
public class JulFormatter extends Formatter {
    /** The default format. */
    public static final String DEFAULT_FORMAT =
            "%1$tF %1$tT.%1$tL %4$s %3$s [trace_id=%7$s span_id=%8$s] %5$s%6$s%n";

    private final String format;

    /** A formatter with the configured (or the default) format. */
    public JulFormatter() {
        String configured = null;
        try {
            configured = LogManager.getLogManager().getProperty(JulFormatter.class.getName() + ".format");
        } catch (Throwable ignored) {
            // the default
        }
        this.format = configured == null || configured.isEmpty() ? DEFAULT_FORMAT : configured;
    }

    @Override
    public String format(LogRecord record) {
        try {
            String[] ids = Logs.ids();
            String source = record.getSourceClassName() == null ? record.getLoggerName()
                    : record.getSourceClassName()
                            + (record.getSourceMethodName() == null ? "" : " " + record.getSourceMethodName());
            String thrown = "";
            if (record.getThrown() != null) {
                StringWriter sw = new StringWriter();
                PrintWriter pw = new PrintWriter(sw);
                pw.println();
                record.getThrown().printStackTrace(pw);
                pw.close();
                thrown = sw.toString();
            }
            return String.format(format, new java.util.Date(record.getMillis()), source, record.getLoggerName(),
                    record.getLevel().getLocalizedName(), formatMessage(record), thrown,
                    ids == null ? "" : ids[0], ids == null ? "" : ids[1]);
        } catch (Throwable t) {
            return String.valueOf(record.getMessage()) + System.lineSeparator();
        }
    }
}
