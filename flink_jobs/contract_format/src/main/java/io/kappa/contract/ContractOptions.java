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

    static final String JSON = "json";
    static final String CONFLUENT_AVRO = "confluent-avro";
    static final ConfigOption<String> WIRE = ConfigOptions.key("wire").stringType().defaultValue(JSON)
            .withDescription("How values are written: json (one JSON object), or confluent-avro (the Confluent "
                    + "wire format: magic byte 0, the schema's registry id, Avro binary).");
    static final ConfigOption<String> REGISTRY_SOCKET = ConfigOptions.key("registry-socket").stringType()
            .noDefaultValue().withDescription("confluent-avro: the schema registry's Unix socket.");

    final String contractJson;
    final int maxPayloadChars;
    final String eventTimeField;
    final String wire;
    final String registrySocket;

    private ContractOptions(String contractJson, int maxPayloadChars, String eventTimeField, String wire,
                            String registrySocket) {
        this.contractJson = contractJson;
        this.maxPayloadChars = maxPayloadChars;
        this.eventTimeField = eventTimeField;
        this.wire = wire;
        this.registrySocket = registrySocket;
    }

    static ContractOptions from(ReadableConfig config) {
        ContractOptions options = new ContractOptions(config.get(CONTRACT), config.get(MAX_PAYLOAD_CHARS),
                config.get(EVENT_TIME_FIELD), config.get(WIRE), config.getOptional(REGISTRY_SOCKET).orElse(null));
        if (options.maxPayloadChars < 1) {
            throw new ValidationException("max-payload-chars must be at least 1");
        }
        if (!JSON.equals(options.wire) && !CONFLUENT_AVRO.equals(options.wire)) {
            throw new ValidationException("wire must be " + JSON + " or " + CONFLUENT_AVRO + ", not " + options.wire);
        }
        if (CONFLUENT_AVRO.equals(options.wire) && options.registrySocket == null) {
            throw new ValidationException("wire " + CONFLUENT_AVRO + " needs registry-socket");
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

    /** The Avro reader for wire confluent-avro, judging records with `rules` (null for json). */
    AvroRecordParser avroParser(EventParser rules) {
        return CONFLUENT_AVRO.equals(wire) ? new AvroRecordParser(contract(), rules, new RegistrySchemas(registrySocket))
                : null;
    }
}
