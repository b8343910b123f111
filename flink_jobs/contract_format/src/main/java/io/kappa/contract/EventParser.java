package io.kappa.contract;

import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.StringData;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

/**
 * Parses a record's value once and applies the contract: every field's typed value, the reason the
 * record is quarantined (or null) and its event time.
 *
 * <p>The decisions are those of the contract's Python statement (lakehouse/contracts.py): the bytes
 * are UTF-8 with invalid sequences replaced; longer than `maxPayloadChars` characters is oversized;
 * anything but exactly one JSON object (nothing after it, no NaN, nesting at most 500 deep) is
 * invalid JSON; a field's text is a string as written, a number as its exact decimal text (a float
 * is never rounded to a double first), true/false, and NULL for null, objects and arrays.
 */
final class EventParser {
    static final int MAX_NESTING_DEPTH = 500;
    static final String EMPTY = "empty payload";
    static final String INVALID_JSON = "invalid JSON";

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING_DEPTH)
                    .maxNumberLength(Integer.MAX_VALUE) // the payload's size limit bounds it
                    .build())
            .build();
    /** JSON-typed fields are stored as JSON_QUERY returns them: keys sorted, floats exact. */
    private static final ObjectMapper JSON_FIELDS = new ObjectMapper(FACTORY)
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
            .configure(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS, true);

    private final Contract contract;
    private final int maxPayloadChars;
    private final String oversized;

    EventParser(Contract contract, int maxPayloadChars) {
        this.contract = contract;
        this.maxPayloadChars = maxPayloadChars;
        this.oversized = "oversized payload (> " + maxPayloadChars + " characters)";
    }

    /** One record's outcome: `values` hold Flink's internal data (StringData, Long, DecimalData,
     *  Double) per contract field; `reason` is null when the record conforms. */
    static final class Parsed {
        final Object[] values;
        String reason;
        Long eventTimeMs;
        /** The payload column's text when it is not the record's bytes as UTF-8 (a binary format). */
        String payloadText;

        Parsed(int fields) {
            this.values = new Object[fields];
        }
    }

    Parsed parse(byte[] value) {
        Parsed out = new Parsed(contract.fields.size());
        if (value == null) {
            out.reason = EMPTY;
            return out;
        }
        String text = new String(value, StandardCharsets.UTF_8);
        if (value.length > maxPayloadChars && text.codePointCount(0, text.length()) > maxPayloadChars) {
            out.reason = oversized;
            return out;
        }
        String[] texts = new String[contract.fields.size()];
        if (!readFields(text, texts, out.values)) {
            out.reason = INVALID_JSON;
            return out;
        }
        return finish(out, texts);
    }

    /** The event time and the contract's verdict, once each field's text (and JSON fields' values) is read. */
    Parsed finish(Parsed out, String[] texts) {
        String time = texts[contract.eventTime.index];
        out.eventTimeMs = time == null ? null
                : contract.eventTime.isTime() ? TimeText.millis(time, contract.eventTime) : NumberText.bigint(time);
        out.reason = check(texts, out.values);
        return out;
    }

    /** A JSON field's stored text: keys sorted, floats exact (as JSON_QUERY returns it). */
    static String jsonText(Object value) throws IOException {
        return JSON_FIELDS.writeValueAsString(value);
    }

    /** Fills each field's text (and JSON fields' values); false when the text is not one JSON object. */
    private boolean readFields(String text, String[] texts, Object[] values) {
        try (JsonParser p = FACTORY.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return false;
            }
            for (JsonToken t = p.nextToken(); t == JsonToken.FIELD_NAME; t = p.nextToken()) {
                FieldRule field = contract.byName.get(p.currentName());
                JsonToken v = p.nextToken();
                if (field == null) {
                    p.skipChildren();
                } else if (field.kind == FieldRule.Kind.JSON) {
                    values[field.index] = v == JsonToken.START_OBJECT || v == JsonToken.START_ARRAY
                            ? StringData.fromString(JSON_FIELDS.writeValueAsString(JSON_FIELDS.readValue(p, Object.class)))
                            : null;
                } else {
                    texts[field.index] = scalarText(p, v);
                }
            }
            return p.nextToken() == null; // nothing may follow the object
        } catch (IOException | RuntimeException notJson) {
            return false;
        }
    }

    private static String scalarText(JsonParser p, JsonToken v) throws IOException {
        switch (v) {
            case VALUE_STRING:
                return p.getText();
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT:
                        return Integer.toString(p.getIntValue());
                    case LONG:
                        return Long.toString(p.getLongValue());
                    default:
                        return p.getBigIntegerValue().toString();
                }
            case VALUE_NUMBER_FLOAT:
                try {
                    return p.getDecimalValue().toString();
                } catch (NumberFormatException beyondBigDecimal) { // an exponent past 2^31: as written
                    return p.getText();
                }
            case VALUE_TRUE:
                return "true";
            case VALUE_FALSE:
                return "false";
            case START_OBJECT:
            case START_ARRAY:
                p.skipChildren();
                return null;
            default:
                return null;
        }
    }

    /** The first violation in the contract's order, or null; fills the typed values on the way. */
    private String check(String[] texts, Object[] values) {
        for (FieldRule f : contract.fields) {
            if (f.kind == FieldRule.Kind.JSON) {
                continue;
            }
            String text = texts[f.index];
            if (text == null || text.isEmpty()) {
                if (f.needed(texts)) {
                    return f.missing;
                }
                values[f.index] = f.kind == FieldRule.Kind.STRING && text != null ? StringData.fromString(text) : null;
                continue;
            }
            switch (f.kind) {
                case STRING:
                    if (f.enumValues != null && !f.enumValues.contains(text)) {
                        return f.invalid;
                    }
                    if (f.maxLength != null && text.length() > f.maxLength
                            && text.codePointCount(0, text.length()) > f.maxLength) {
                        return f.tooLong;
                    }
                    values[f.index] = StringData.fromString(text);
                    break;
                case BIGINT: {
                    Long n = f.isTime() ? TimeText.millis(text, f) : NumberText.bigint(text);
                    if (n == null) {
                        return f.invalid;
                    }
                    if (f.outOfRange(BigDecimal.valueOf(n))) {
                        return f.outOfRange;
                    }
                    values[f.index] = n;
                    break;
                }
                case DECIMAL: {
                    BigDecimal d = NumberText.decimal(text, f.precision, f.scale);
                    if (d == null) {
                        return f.invalid;
                    }
                    if (f.outOfRange(d)) {
                        return f.outOfRange;
                    }
                    values[f.index] = DecimalData.fromBigDecimal(d, f.precision, f.scale);
                    break;
                }
                case DOUBLE: {
                    Double d = NumberText.doubleValue(text);
                    if (d == null) {
                        return f.invalid;
                    }
                    if (f.outOfRange(d)) {
                        return f.outOfRange;
                    }
                    values[f.index] = d;
                    break;
                }
                default:
                    break;
            }
        }
        return null;
    }
}
