package io.osprey.agent.lib.kafka;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.bootstrap.TraceContext;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Kafka steps and transactions. A send is a step {@code <topic> publish} of the open transaction
 * (its duration is the {@code send} call, which queues the record; the broker's answer comes
 * later), and the record gets {@code traceparent} (naming that step) and {@code tracestate}
 * headers unless the application set its own. A consumed record handed out by {@code
 * ConsumerRecords.iterator()} becomes a transaction {@code <topic> process} continuing the trace
 * of its headers, from {@code next()} until the iterator's next call (or its end) on a thread
 * with no transaction of its own; on a thread that has one it is left alone. Keys and values are
 * never read. Kafka's types are reached by reflection (they belong to the application's loader);
 * nothing here throws.
 */
public final class Kafka {
    /** Topic → step name id of its sends. Bounded. */
    private static final Map<String, Integer> SEND_IDS = new ConcurrentHashMap<String, Integer>();
    private static final int MAX_TOPICS = 1024;

    private static int kSystem = -1;
    private static int kDestination = -1;
    private static int kOperation = -1;
    private static int vKafka = -1;

    private static final Reflection.Getter TOPIC = new Reflection.Getter("topic");
    private static final Reflection.Getter HEADERS = new Reflection.Getter("headers");
    private static final Reflection.Getter HEADER_VALUE = new Reflection.Getter("value");
    private static final Reflection.Getter PARTITION = new Reflection.Getter("partition");
    private static final Reflection.Getter OFFSET = new Reflection.Getter("offset");
    private static volatile Method[] headersMethods;
    private static volatile Class<?> headersClass;

    /** Step target of the transaction itself ({@link OspreyNative}). */
    private static final long TXN_TARGET = -1L;
    /** The iterator whose record's transaction is open on this thread. */
    private static final ThreadLocal<RecordTransactions> OPEN = new ThreadLocal<RecordTransactions>();

    private static int kPartition = -1;
    private static int kOffset = -1;

    private Kafka() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kSystem = OspreyNative.intern("messaging.system");
        kDestination = OspreyNative.intern("messaging.destination.name");
        kOperation = OspreyNative.intern("messaging.operation.type");
        kPartition = OspreyNative.intern("messaging.destination.partition.id");
        kOffset = OspreyNative.intern("messaging.kafka.offset");
        vKafka = ValueNames.id("kafka");
    }

    // ---- producer ----

    /** Entry of {@code KafkaProducer.send(record, callback)}: the step handle (0: none). */
    public static long enter(Object record) {
        if (!Osprey.enabled || record == null) {
            return 0L;
        }
        try {
            Object topic = TOPIC.get(record);
            if (topic == null) {
                return 0L;
            }
            String t = topic.toString();
            int id = sendId(t);
            if (id < 0) {
                return 0L;
            }
            long h = OspreyNative.enter(id, OspreyNative.STEP_METHOD);
            if (h == 0L) {
                return 0L;
            }
            // Entered: from here on the handle must reach exit, whatever happens.
            try {
                ValueNames.attr(h, kSystem, "kafka", vKafka);
                ValueNames.attr(h, kDestination, t);
                ValueNames.attr(h, kOperation, "send");
                inject(record);
            } catch (Throwable ignored) {
                // the step is recorded without propagation
            }
            return h;
        } catch (Throwable t) {
            return 0L;
        }
    }

    private static int sendId(String topic) {
        Integer known = SEND_IDS.get(topic);
        if (known != null) {
            return known;
        }
        String name = topic + " publish";
        // Outside any lock: the name table takes its own.
        int id = OspreyNative.internStep(name, OspreyNative.STEP_METHOD);
        if (id >= OspreyNative.OVERFLOW_IDS && SEND_IDS.size() < MAX_TOPICS) {
            SEND_IDS.put(topic, id);
        }
        return id;
    }

    /** Adds {@code traceparent}/{@code tracestate} unless the record carries a traceparent already. */
    private static void inject(Object record) throws Exception {
        String parent = TraceContext.outgoing(OspreyNative.traceparent());
        if (parent == null) {
            return;
        }
        Object headers = HEADERS.get(record);
        if (headers == null) {
            return;
        }
        Method[] m = headersMethods(headers.getClass());
        if (m[0].invoke(headers, TraceContext.TRACEPARENT) != null) {
            return; // the application's own, or a record sent again
        }
        m[1].invoke(headers, TraceContext.TRACEPARENT, parent.getBytes(StandardCharsets.US_ASCII));
        String state = TraceContext.outgoingState();
        if (state != null && m[0].invoke(headers, TraceContext.TRACESTATE) == null) {
            m[1].invoke(headers, TraceContext.TRACESTATE, state.getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** {@code lastHeader(String)} and {@code add(String, byte[])} of a {@code Headers} class. */
    private static Method[] headersMethods(Class<?> c) {
        Method[] m = headersMethods;
        if (m == null || headersClass != c) {
            m = new Method[] {Reflection.publicMethod(c, "lastHeader", String.class),
                    Reflection.publicMethod(c, "add", String.class, byte[].class)};
            if (m[0] == null || m[1] == null) {
                throw new IllegalStateException("not a Kafka Headers class: " + c);
            }
            headersMethods = m;
            headersClass = c;
        }
        return m;
    }

    /** A header's value as text; null when absent. */
    static String header(Object headers, String key) throws Exception {
        Object h = headersMethods(headers.getClass())[0].invoke(headers, key);
        Object v = h == null ? null : HEADER_VALUE.get(h);
        return v instanceof byte[] ? new String((byte[]) v, StandardCharsets.ISO_8859_1) : null;
    }

    // ---- consumer ----

    /** What {@code ConsumerRecords.iterator()} returns, passed through: wrapped when it is an iterator. */
    public static Object records(Object iterator) {
        if (!Osprey.enabled || !(iterator instanceof Iterator)) {
            return iterator;
        }
        try {
            // A loop left with break kept its last record's transaction open: the next
            // iteration on this thread (as after the next poll) ends it.
            RecordTransactions left = OPEN.get();
            if (left != null) {
                left.close();
            }
            @SuppressWarnings("unchecked")
            Iterator<Object> it = (Iterator<Object>) iterator;
            return new RecordTransactions(it);
        } catch (Throwable t) {
            return iterator;
        }
    }

    /**
     * Begins the transaction of {@code record} when this thread has none; true when it began one.
     */
    static boolean begin(RecordTransactions iterator, Object record) {
        if (!Osprey.enabled || record == null) {
            return false;
        }
        try {
            Object topic = TOPIC.get(record);
            String name = (topic == null ? "kafka" : topic.toString()) + " process";
            Object headers = HEADERS.get(record);
            String parent = null;
            TraceContext inbound = null;
            if (headers != null) {
                String tp = header(headers, TraceContext.TRACEPARENT);
                parent = tp == null ? null : TraceContext.parseTraceparent(tp);
                if (parent != null) {
                    String state = header(headers, TraceContext.TRACESTATE);
                    inbound = new TraceContext(TraceContext.flagsOf(parent),
                            state == null ? null : TraceContext.tracestate(new String[] {state}));
                }
            }
            if (OspreyNative.begin(name, OspreyNative.TXN_SERVER, parent) != OspreyNative.OK) {
                return false;
            }
            Osprey.began(name);
            TraceContext.set(inbound);
            OPEN.set(iterator);
            try {
                ValueNames.attr(TXN_TARGET, kSystem, "kafka", vKafka);
                ValueNames.attr(TXN_TARGET, kDestination, topic == null ? null : topic.toString());
                ValueNames.attr(TXN_TARGET, kOperation, "process");
                Object partition = PARTITION.get(record);
                if (partition instanceof Integer) {
                    OspreyNative.attrLong(TXN_TARGET, kPartition, (Integer) partition);
                }
                Object offset = OFFSET.get(record);
                if (offset instanceof Long) {
                    OspreyNative.attrLong(TXN_TARGET, kOffset, (Long) offset);
                }
            } catch (Throwable ignored) {
                // attributes are best effort
            }
            return true;
        } catch (Throwable t) {
            return false;
        }
    }

    /** Ends the transaction {@link #begin} began on this thread. */
    static void end() {
        try {
            OPEN.remove();
            TraceContext.set(null);
        } catch (Throwable ignored) {
            // never into the application
        }
        Osprey.exit(Osprey.TXN);
    }
}
