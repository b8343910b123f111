package io.kappa.contract;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * One Kafka record written as a line of a record file: topic, partition, offset, timestamp (epoch
 * ms) and the value in base64, or `-` for a tombstone, separated by tabs. Local tests replay exact
 * records (bytes, coordinates, order) through the same parsing as a Kafka source.
 */
final class RecordLine {
    final String topic;
    final int partition;
    final long offset;
    final long timestampMs;
    final byte[] value;

    private RecordLine(String topic, int partition, long offset, long timestampMs, byte[] value) {
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestampMs = timestampMs;
        this.value = value;
    }

    static RecordLine parse(byte[] line) {
        int end = line.length;
        while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r')) {
            end--;
        }
        String[] parts = new String(line, 0, end, StandardCharsets.US_ASCII).split("\t", -1);
        if (parts.length != 5) {
            throw new IllegalArgumentException("a record line has 5 tab-separated columns, not " + parts.length);
        }
        byte[] value = parts[4].equals("-") ? null : Base64.getDecoder().decode(parts[4]);
        return new RecordLine(parts[0], Integer.parseInt(parts[1]), Long.parseLong(parts[2]), Long.parseLong(parts[3]),
                value);
    }
}
