package io.kappa.contract;

/**
 * `'format' = 'kappa-contract-records'`: a file of Kafka records (RecordLine), read with the same
 * parsing as `kappa-contract`, the record's coordinates as the columns `kafka_topic`,
 * `kafka_partition`, `kafka_offset` and `kafka_ts_ms`. The jobs' local tests read these.
 */
public class RecordFileFormatFactory extends ContractFormatFactory {
    public static final String IDENTIFIER = "kappa-contract-records";

    @Override
    protected boolean recordLines() {
        return true;
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }
}
