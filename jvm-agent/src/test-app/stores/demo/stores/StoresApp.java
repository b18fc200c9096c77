package demo.stores;

import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Clients of data stores as applications use them, against servers the test started on loopback.
 * Each {@code request*} method is one transaction under the agent's {@code hook.transactions}.
 * Prints the same lines with and without the agent; under the agent it also prints, on standard
 * error, how many names the recorder's name table gained while the application ran many distinct
 * literal statements ({@code names-added=N}).
 *
 * <p>{@code jdbc URL USER PASSWORD ROUNDS}: makes a table outside any transaction, then one {@link
 * #requestOrder} (a prepared query run twice and a plain update with literals) and {@code ROUNDS}
 * of {@link #requestReport}, each running 50 plain statements whose literals all differ.
 *
 * <p>{@code jedis HOST PORT}: one {@link #requestCart} through a {@code JedisPooled}: SET, GET,
 * HSET, an error reply, and a pipeline.
 *
 * <p>{@code lettuce HOST PORT}: one {@link #requestLettuce} through Lettuce's synchronous API
 * (SET, GET, HSET, an error reply) and one asynchronous GET.
 *
 * <p>{@code kafka BOOTSTRAP TOPIC}: one {@link #requestPublish} sends three records and a fourth
 * carrying the application's own {@code traceparent}; then, outside any transaction, a consumer
 * reads the topic from its start and {@link #handleRecord handles} each record.
 */
public final class StoresApp {
    /** Statements per {@link #requestReport}. */
    static final int REPORT_STATEMENTS = 50;

    private StoresApp() {}

    public static void main(String[] args) throws Exception {
        if (args[0].equals("jdbc")) {
            jdbc(args[1], args[2], args[3], Integer.parseInt(args[4]));
        } else if (args[0].equals("kafka")) {
            kafka(args[1], args[2]);
        } else if (args[0].equals("lettuce")) {
            lettuce(args[1], Integer.parseInt(args[2]));
        } else if (args[0].equals("jedis")) {
            jedis(args[1], Integer.parseInt(args[2]));
        } else {
            throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    static void jdbc(String url, String user, String password, int rounds) throws Exception {
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE item (id INT PRIMARY KEY, name VARCHAR(64), hits INT)");
                s.execute("INSERT INTO item VALUES (42, 'widget', 0)");
            }
            System.out.println(requestOrder(c, 42));
            int before = internProbe("stores-probe-before");
            long total = 0;
            for (int round = 0; round < rounds; round++) {
                total += requestReport(c, round);
            }
            int after = internProbe("stores-probe-after");
            if (before >= 0 && after >= 0) {
                System.err.println("names-added=" + (after - before - 1));
            }
            System.out.println("report " + total);
        }
    }

    /** A prepared query run twice on one statement, then a plain update with literals. */
    public static String requestOrder(Connection c, int id) throws SQLException {
        String name = null;
        int hits = -1;
        try (PreparedStatement ps = c.prepareStatement("SELECT name, hits FROM item WHERE id = ?")) {
            for (int round = 0; round < 2; round++) {
                ps.setInt(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        name = rs.getString(1);
                        hits = rs.getInt(2);
                    }
                }
            }
        }
        try (Statement s = c.createStatement()) {
            s.executeUpdate("UPDATE item SET hits = hits + 1 WHERE name = 'widget'");
        }
        return name + " " + hits;
    }

    /**
     * {@link #REPORT_STATEMENTS} plain statements, each with literals no other one has, behind a
     * comment as ORMs write (so the text does not start with a SQL verb).
     */
    public static long requestReport(Connection c, int round) throws SQLException {
        long rows = 0;
        try (Statement s = c.createStatement()) {
            for (int i = 0; i < REPORT_STATEMENTS; i++) {
                int n = round * REPORT_STATEMENTS + i;
                try (ResultSet rs = s.executeQuery("/* report */ SELECT hits FROM item WHERE name = 'w-" + n
                        + "' OR id = " + (1000000 + n))) {
                    while (rs.next()) {
                        rows++;
                    }
                }
            }
        }
        return rows;
    }

    static void jedis(String host, int port) {
        try (redis.clients.jedis.JedisPooled jedis = new redis.clients.jedis.JedisPooled(host, port)) {
            jedis.del("cart:items"); // outside any transaction: each run starts afresh
            System.out.println(requestCart(jedis));
        }
    }

    /**
     * SET and GET of a secret-looking value, HSET, INCR on a string (an error reply), and a
     * pipeline of two commands.
     */
    public static String requestCart(redis.clients.jedis.JedisPooled jedis) {
        jedis.set("cart:secret-key-1", "secret-value-1");
        String got = jedis.get("cart:secret-key-1");
        long added = jedis.hset("cart:items", "secret-field", "3");
        String error;
        try {
            jedis.incr("cart:secret-key-1");
            error = "none";
        } catch (redis.clients.jedis.exceptions.JedisDataException e) {
            error = "refused";
        }
        String piped;
        try (redis.clients.jedis.AbstractPipeline p = jedis.pipelined()) {
            redis.clients.jedis.Response<String> a = p.get("cart:secret-key-1");
            redis.clients.jedis.Response<Long> b = p.hlen("cart:items");
            p.sync();
            piped = a.get() + " " + b.get();
        }
        return "cart " + got + " " + added + " " + error + " " + piped;
    }

    static void lettuce(String host, int port) throws Exception {
        io.lettuce.core.RedisClient client = io.lettuce.core.RedisClient.create("redis://" + host + ":" + port);
        try (io.lettuce.core.api.StatefulRedisConnection<String, String> conn = client.connect()) {
            conn.sync().del("cart:lettuce-items"); // outside any transaction: each run starts afresh
            System.out.println(requestLettuce(conn));
        } finally {
            client.shutdown();
        }
    }

    /** SET, GET, HSET and INCR on a string (an error reply) synchronously, then a GET asynchronously. */
    public static String requestLettuce(io.lettuce.core.api.StatefulRedisConnection<String, String> conn)
            throws Exception {
        io.lettuce.core.api.sync.RedisCommands<String, String> sync = conn.sync();
        sync.set("cart:secret-key-2", "secret-value-2");
        String got = sync.get("cart:secret-key-2");
        boolean added = sync.hset("cart:lettuce-items", "secret-field", "1");
        String error;
        try {
            sync.incr("cart:secret-key-2");
            error = "none";
        } catch (io.lettuce.core.RedisCommandExecutionException e) {
            error = "refused";
        }
        String async = conn.async().get("cart:secret-key-2").get();
        return "lettuce " + got + " " + added + " " + error + " " + async;
    }

    /** A traceparent the application sets itself on one record. */
    static final String OWN_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    static void kafka(String bootstrap, String topic) throws Exception {
        java.util.Properties p = new java.util.Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        p.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        try (org.apache.kafka.clients.producer.KafkaProducer<String, String> producer =
                new org.apache.kafka.clients.producer.KafkaProducer<String, String>(p)) {
            System.out.println(requestPublish(producer, topic));
        }
        java.util.Properties c = new java.util.Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer");
        c.put("value.deserializer", "org.apache.kafka.common.serialization.StringDeserializer");
        c.put("enable.auto.commit", "false");
        java.util.List<String> seen = new java.util.ArrayList<String>();
        try (org.apache.kafka.clients.consumer.KafkaConsumer<String, String> consumer =
                new org.apache.kafka.clients.consumer.KafkaConsumer<String, String>(c)) {
            org.apache.kafka.common.TopicPartition tp = new org.apache.kafka.common.TopicPartition(topic, 0);
            consumer.assign(java.util.Collections.singletonList(tp));
            consumer.seekToBeginning(java.util.Collections.singletonList(tp));
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (seen.size() < 4 && System.nanoTime() < deadline) {
                for (org.apache.kafka.clients.consumer.ConsumerRecord<String, String> r
                        : consumer.poll(java.time.Duration.ofMillis(200))) {
                    seen.add(handleRecord(r));
                }
            }
        }
        for (String line : seen) {
            System.out.println(line);
        }
    }

    /** Three records, then one with the application's own traceparent; waits for each. */
    public static String requestPublish(org.apache.kafka.clients.producer.KafkaProducer<String, String> producer,
            String topic) throws Exception {
        for (int i = 1; i <= 3; i++) {
            producer.send(new org.apache.kafka.clients.producer.ProducerRecord<String, String>(
                    topic, "order-" + i, "secret-card-" + i)).get();
        }
        org.apache.kafka.clients.producer.ProducerRecord<String, String> own =
                new org.apache.kafka.clients.producer.ProducerRecord<String, String>(topic, "order-4", "secret-card-4");
        own.headers().add("traceparent", OWN_PARENT.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        producer.send(own).get();
        return "published 4";
    }

    /** What the consumer does with one record: a step of its transaction under the agent. */
    public static String handleRecord(org.apache.kafka.clients.consumer.ConsumerRecord<String, String> r) {
        org.apache.kafka.common.header.Header h = r.headers().lastHeader("traceparent");
        boolean own = h != null && OWN_PARENT.equals(new String(h.value(), java.nio.charset.StandardCharsets.US_ASCII));
        return "consumed " + r.key() + (own ? " own-parent" : "");
    }

    /**
     * The id the agent's name table gives a new name: ids are issued in order, so the difference
     * of two probes counts the names added in between. -1 without the agent.
     */
    static int internProbe(String name) {
        try {
            Class<?> nat = Class.forName("io.osprey.agent.bootstrap.OspreyNative", true, null);
            Method intern = nat.getMethod("intern", String.class);
            return (Integer) intern.invoke(null, name);
        } catch (Throwable t) {
            return -1;
        }
    }
}
