package io.kappa.contract;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.RowData;

/** A record's value (or, from a record file, a whole record line) into the table's row. */
final class ContractDeserializer implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;

    private final ContractOptions options;
    private final RowLayout layout;
    private final boolean recordLines;
    private final TypeInformation<RowData> producedType;
    private transient EventParser parser;
    private transient AvroRecordParser avro;

    ContractDeserializer(ContractOptions options, RowLayout layout, boolean recordLines,
                         TypeInformation<RowData> producedType) {
        this.options = options;
        this.layout = layout;
        this.recordLines = recordLines;
        this.producedType = producedType;
    }

    @Override
    public void open(InitializationContext context) {
        parser = options.parser();
        avro = options.avroParser(parser);
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (parser == null) {
            open(null);
        }
        if (recordLines) {
            RecordLine record = RecordLine.parse(message);
            return layout.build(parse(record.value), record.value, record);
        }
        return layout.build(parse(message), message, null);
    }

    private EventParser.Parsed parse(byte[] value) {
        return avro != null ? avro.parse(value) : parser.parse(value);
    }

    @Override
    public boolean isEndOfStream(RowData next) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
