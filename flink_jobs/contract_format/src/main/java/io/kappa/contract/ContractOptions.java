package io.kappa.contract;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;

import java.io.Serializable;

/** The format's options, shared by both format identifiers; checked when the table is planned. */
final class ContractOptions implements Serializable {
    private static final long serialVersionUID = 1L;

    static final ConfigOption<String> CONTRACT = ConfigOptions.key("contract").stringType().noDefaultValue()
            .withDescription("The topic's contract: its JSON Schema, as text.");
    static final ConfigOption<Integer> MAX_PAYLOAD_CHARS = ConfigOptions.key("max-payload-chars").intType()
            .defaultValue(65536).withDescription("Longer payloads are quarantined as oversized.");
    static final ConfigOption<String> EVENT_TIME_FIELD = ConfigOptions.key("event-time-field").stringType()
            .defaultValue("timestamp").withDescription("The BIGINT field holding the event time (epoch ms).");

    final String contractJson;
    final int maxPayloadChars;
    final String eventTimeField;

    private ContractOptions(String contractJson, int maxPayloadChars, String eventTimeField) {
        this.contractJson = contractJson;
        this.maxPayloadChars = maxPayloadChars;
        this.eventTimeField = eventTimeField;
    }

    static ContractOptions from(ReadableConfig config) {
        ContractOptions options = new ContractOptions(config.get(CONTRACT), config.get(MAX_PAYLOAD_CHARS),
                config.get(EVENT_TIME_FIELD));
        if (options.maxPayloadChars < 1) {
            throw new ValidationException("max-payload-chars must be at least 1");
        }
        options.contract(); // a broken contract fails the statement, not the running job
        return options;
    }

    Contract contract() {
        try {
            return Contract.parse(contractJson, eventTimeField);
        } catch (IllegalArgumentException e) {
            throw new ValidationException("kappa-contract: " + e.getMessage(), e);
        }
    }

    EventParser parser() {
        return new EventParser(contract(), maxPayloadChars);
    }
}
