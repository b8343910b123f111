package io.kappa.contract;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

import java.util.Set;

/**
 * `'format' = 'kappa-contract'`: each Kafka record's value parsed once against the topic's contract
 * into typed columns, the quarantine `reason` (NULL when the record conforms), `event_ts_ms` and the
 * raw `payload`. Nothing is dropped and nothing fails the job: an unusable record is a row with a reason.
 */
public class ContractFormatFactory implements DeserializationFormatFactory {
    public static final String IDENTIFIER = "kappa-contract";

    /** Whether each input is a record line of a record file (RecordFileFormatFactory) or a bare value. */
    protected boolean recordLines() {
        return false;
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(ContractOptions.CONTRACT);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(ContractOptions.MAX_PAYLOAD_CHARS, ContractOptions.EVENT_TIME_FIELD, ContractOptions.WIRE,
                ContractOptions.REGISTRY_SOCKET);
    }

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        ContractOptions options = ContractOptions.from(formatOptions);
        boolean lines = recordLines();
        return new DecodingFormat<>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(DynamicTableSource.Context ctx, DataType physical) {
                RowLayout layout = RowLayout.of((RowType) physical.getLogicalType(), options.contract(), lines);
                return new ContractDeserializer(options, layout, lines, ctx.createTypeInformation(physical));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }
}
