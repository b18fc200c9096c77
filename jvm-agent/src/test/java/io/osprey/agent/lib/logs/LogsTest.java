package io.osprey.agent.lib.logs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.util.Collections;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/** The log rewrites verify and keep behaviour outside a transaction; the JUL formatter. */
class LogsTest {
    private static ClassReader reader(String name) throws Exception {
        return new ClassReader(TestClasses.bytes("/" + name + ".class"));
    }

    @Test
    void logbackEventKeepsItsMapOutsideATransaction() throws Exception {
        assertTrue(LogsInstrumentation.hasField(reader("sample/FakeLoggingEvent"), "mdcPropertyMap", "Ljava/util/Map;"));
        assertFalse(LogsInstrumentation.hasField(reader("sample/FakeExecutor"), "mdcPropertyMap", "Ljava/util/Map;"));
        byte[] out = LogsInstrumentation.rewriteLogback(reader("sample/FakeLoggingEvent"));
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeLoggingEvent", out);
        Object event = c.getDeclaredConstructor().newInstance();
        Object first = c.getMethod("getMDCPropertyMap").invoke(event);
        Object again = c.getMethod("getMDCPropertyMap").invoke(event);
        assertSame(first, again, "kept in the field");
        assertEquals(Collections.singletonMap("user", "ann"), first);
        assertEquals(1, c.getField("reads").get(event));
    }

    @Test
    void withoutATransactionNothingIsAdded() {
        Map<String, String> mdc = Collections.singletonMap("user", "ann");
        assertSame(mdc, Logs.logback(mdc));
        assertNull(Logs.logback(null));
        assertNull(Logs.ids());
        Object map = new Object();
        assertSame(map, Logs.log4j(map, null));
    }

    @Test
    void onlyLogbacksEventAndLog4jsInjectorsAreCandidates() throws Exception {
        LogsInstrumentation logs = new LogsInstrumentation();
        assertNull(logs.transform(null, "sample/FakeLoggingEvent", reader("sample/FakeLoggingEvent")));
        assertNull(logs.transform(null, LogsInstrumentation.LOG4J_INJECTORS + "X", reader("sample/FakeExecutor")),
                "no injectContextData: unchanged");
    }

    @Test
    void julFormatterPrintsEmptyIdsOutsideATransaction() {
        LogRecord record = new LogRecord(Level.INFO, "hello {0}");
        record.setParameters(new Object[] {"ann"});
        record.setLoggerName("demo");
        String line = new JulFormatter().format(record);
        assertTrue(line.contains("INFO demo [trace_id= span_id=] hello ann"), line);
    }
}
