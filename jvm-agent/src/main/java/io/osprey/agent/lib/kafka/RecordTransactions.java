package io.osprey.agent.lib.kafka;

import java.util.Iterator;

/**
 * The iterator {@code ConsumerRecords.iterator()} returns under the agent: each record it hands
 * out is a transaction ({@link Kafka#begin}) until the next call to {@link #next} or a {@link
 * #hasNext} that finds none left. When the application leaves the loop early, the last record's
 * transaction ends at the next {@code iterator()} on the same thread (as after the next poll).
 */
final class RecordTransactions implements Iterator<Object> {
    private final Iterator<Object> records;
    private boolean open;

    RecordTransactions(Iterator<Object> records) {
        this.records = records;
    }

    @Override
    public boolean hasNext() {
        boolean more = records.hasNext();
        if (!more) {
            close();
        }
        return more;
    }

    @Override
    public Object next() {
        close();
        Object record = records.next();
        open = Kafka.begin(this, record);
        return record;
    }

    @Override
    public void remove() {
        records.remove();
    }

    /** Ends the open record transaction, if any. */
    void close() {
        if (open) {
            open = false;
            Kafka.end();
        }
    }
}
