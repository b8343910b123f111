package io.kappa.contract;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.util.List;

/**
 * Which value goes into each column the table declares: a contract field by its name, or one of the
 * columns every source has (`reason`, `payload`, `event_ts_ms`), or, reading a record file, the
 * record's Kafka coordinates. Checked against the contract when the table is planned.
 */
final class RowLayout implements Serializable {
    private static final long serialVersionUID = 1L;

    static final String REASON = "reason";
    static final String PAYLOAD = "payload";
    static final String EVENT_TS_MS = "event_ts_ms";
    static final String TOPIC = "kafka_topic";
    static final String PARTITION = "kafka_partition";
    static final String OFFSET = "kafka_offset";
    static final String TIMESTAMP = "kafka_ts_ms";

    enum Source { FIELD, REASON, PAYLOAD, EVENT_TS_MS, TOPIC, PARTITION, OFFSET, TIMESTAMP }

    private final Source[] sources;
    private final int[] fieldIndex;

    private RowLayout(Source[] sources, int[] fieldIndex) {
        this.sources = sources;
        this.fieldIndex = fieldIndex;
    }

    static RowLayout of(RowType row, Contract contract, boolean recordColumns) {
        List<RowType.RowField> columns = row.getFields();
        Source[] sources = new Source[columns.size()];
        int[] index = new int[columns.size()];
        for (int i = 0; i < columns.size(); i++) {
            String name = columns.get(i).getName();
            LogicalType type = columns.get(i).getType();
            FieldRule field = contract.byName.get(name);
            if (field != null && field != contract.eventTime) {
                sources[i] = Source.FIELD;
                index[i] = field.index;
                expect(name, type, fieldRoot(field), field.kind == FieldRule.Kind.DECIMAL ? field : null);
                continue;
            }
            switch (name) {
                case REASON: sources[i] = Source.REASON; expect(name, type, LogicalTypeRoot.VARCHAR, null); break;
                case PAYLOAD: sources[i] = Source.PAYLOAD; expect(name, type, LogicalTypeRoot.VARCHAR, null); break;
                case EVENT_TS_MS: sources[i] = Source.EVENT_TS_MS; expect(name, type, LogicalTypeRoot.BIGINT, null); break;
                default:
                    if (!recordColumns) {
                        throw unknown(name, contract);
                    }
                    switch (name) {
                        case TOPIC: sources[i] = Source.TOPIC; expect(name, type, LogicalTypeRoot.VARCHAR, null); break;
                        case PARTITION: sources[i] = Source.PARTITION; expect(name, type, LogicalTypeRoot.INTEGER, null); break;
                        case OFFSET: sources[i] = Source.OFFSET; expect(name, type, LogicalTypeRoot.BIGINT, null); break;
                        case TIMESTAMP: sources[i] = Source.TIMESTAMP; expect(name, type, LogicalTypeRoot.BIGINT, null); break;
                        default: throw unknown(name, contract);
                    }
            }
        }
        return new RowLayout(sources, index);
    }

    /** The row for one record; `record` is null when the Kafka connector supplies the coordinates. */
    GenericRowData build(EventParser.Parsed parsed, byte[] value, RecordLine record) {
        GenericRowData row = new GenericRowData(sources.length);
        for (int i = 0; i < sources.length; i++) {
            switch (sources[i]) {
                case FIELD: row.setField(i, parsed.values[fieldIndex[i]]); break;
                case REASON: row.setField(i, parsed.reason == null ? null : StringData.fromString(parsed.reason)); break;
                case PAYLOAD:
                    row.setField(i, parsed.payloadText != null ? StringData.fromString(parsed.payloadText)
                            : value == null ? null : StringData.fromBytes(value));
                    break;
                case EVENT_TS_MS: row.setField(i, parsed.eventTimeMs); break;
                case TOPIC: row.setField(i, StringData.fromString(record.topic)); break;
                case PARTITION: row.setField(i, record.partition); break;
                case OFFSET: row.setField(i, record.offset); break;
                case TIMESTAMP: row.setField(i, record.timestampMs); break;
                default: throw new IllegalStateException(sources[i].name());
            }
        }
        return row;
    }

    private static LogicalTypeRoot fieldRoot(FieldRule field) {
        switch (field.kind) {
            case BIGINT: return LogicalTypeRoot.BIGINT;
            case DOUBLE: return LogicalTypeRoot.DOUBLE;
            case DECIMAL: return LogicalTypeRoot.DECIMAL;
            default: return LogicalTypeRoot.VARCHAR; // STRING, and JSON as its text
        }
    }

    private static void expect(String name, LogicalType type, LogicalTypeRoot root, FieldRule decimal) {
        boolean ok = type.getTypeRoot() == root;
        if (ok && decimal != null) {
            DecimalType d = (DecimalType) type;
            ok = d.getPrecision() == decimal.precision && d.getScale() == decimal.scale;
        }
        if (!ok) {
            String want = decimal != null ? "DECIMAL(" + decimal.precision + ", " + decimal.scale + ")"
                    : root == LogicalTypeRoot.VARCHAR ? "STRING" : root.name();
            throw new ValidationException("column " + name + " is " + type.asSummaryString() + "; the contract makes it " + want);
        }
    }

    private static ValidationException unknown(String name, Contract contract) {
        return new ValidationException("column " + name + " is neither a field of the contract (" + contract.byName.keySet()
                + ", the event time as " + EVENT_TS_MS + ") nor one of " + REASON + ", " + PAYLOAD);
    }
}
