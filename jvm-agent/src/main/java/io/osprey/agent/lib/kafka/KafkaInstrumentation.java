package io.osprey.agent.lib.kafka;

import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.HelperMethodInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Kafka clients (2.x to 4.x): {@code KafkaProducer.send(ProducerRecord, Callback)} (which {@code
 * send(ProducerRecord)} calls) becomes a step that adds {@code traceparent}/{@code tracestate}
 * headers to the record ({@link Kafka#enter}, given the record); {@code
 * ConsumerRecords.iterator()} returns an iterator that makes each record a transaction, from its
 * {@code next()} to the next call ({@link Kafka#records}).
 */
public final class KafkaInstrumentation extends HelperMethodInstrumentation {
    static final String PRODUCER = "org/apache/kafka/clients/producer/KafkaProducer";
    static final String SEND_DESC = "(Lorg/apache/kafka/clients/producer/ProducerRecord;"
            + "Lorg/apache/kafka/clients/producer/Callback;)Ljava/util/concurrent/Future;";
    static final String RECORDS = "org/apache/kafka/clients/consumer/ConsumerRecords";
    static final String ITERATOR_DESC = "()Ljava/util/Iterator;";
    static final String KAFKA = "io/osprey/agent/lib/kafka/Kafka";

    /** The transforms of {@code KafkaProducer.send} and {@code ConsumerRecords.iterator()}. */
    public KafkaInstrumentation() {
        super(PRODUCER, "send", SEND_DESC, KAFKA, ENTER_OBJECT, 0);
    }

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (RECORDS.equals(internalName)) {
            return rewriteIterator(reader, "iterator", ITERATOR_DESC);
        }
        return super.transform(loader, internalName, reader);
    }

    /** Passes what {@code method(desc)} returns (an iterator of records) through {@link Kafka#records}. */
    public static byte[] rewriteIterator(ClassReader reader, final String method, final String methodDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)) {
                    return null;
                }
                final String returned = desc.substring(desc.indexOf(')') + 1);
                final String type = returned.substring(1, returned.length() - 1);
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            visitMethodInsn(INVOKESTATIC, KAFKA, "records", "(Ljava/lang/Object;)Ljava/lang/Object;",
                                    false);
                            visitTypeInsn(CHECKCAST, type);
                        }
                    }
                };
            }
        });
    }
}
