package io.osprey.agent.lib.kafka;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import org.objectweb.asm.ClassReader;

/**
 * Kafka clients ({@code instrument.kafka}): a producer's sends as steps carrying the trace in
 * record headers, each consumed record as a transaction continuing it.
 */
public final class KafkaLibrary extends Library {
    /** The library, with a fresh transform. */
    public KafkaLibrary() {
        super("kafka", new KafkaInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Kafka.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        // Warm-up stand-ins: execute(String) for send(record, callback), executeQuery() for iterator().
        new KafkaInstrumentation().wrap(new ClassReader(code), "execute", "(Ljava/lang/String;)Z");
        KafkaInstrumentation.rewriteIterator(new ClassReader(code), "executeQuery", "()Ljava/lang/Object;");
    }
}
