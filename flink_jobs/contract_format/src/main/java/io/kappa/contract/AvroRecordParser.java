package io.kappa.contract;

import org.apache.flink.table.data.StringData;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Records in the Confluent wire format (a zero magic byte, the writer schema's registry id as four
 * bytes big-endian, the Avro binary body) read into the contract's fields, which the contract then
 * judges exactly as it judges JSON (EventParser). Fields are matched by name: a record written with
 * an older schema that lacks a field has it NULL, and a field the contract does not know is ignored.
 *
 * <p>Nothing about a record fails the job: a wrong magic byte, an unknown schema id, a schema that is
 * not an Avro record, a truncated or overlong body each quarantine the record with that reason. Only a
 * registry that cannot be reached at all fails the task (RegistrySchemas), which then restarts from
 * its checkpoint and reads the records again.
 */
final class AvroRecordParser {
    static final String NOT_WIRE_FORMAT = "not in the registry's wire format";

    private final Contract contract;
    private final EventParser rules;
    private final RegistrySchemas schemas;
    private final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
    private BinaryDecoder decoder;

    AvroRecordParser(Contract contract, EventParser rules, RegistrySchemas schemas) {
        this.contract = contract;
        this.rules = rules;
        this.schemas = schemas;
    }

    EventParser.Parsed parse(byte[] value) {
        EventParser.Parsed out = new EventParser.Parsed(contract.fields.size());
        if (value == null || value.length == 0) {
            out.reason = EventParser.EMPTY;
            return out;
        }
        if (value[0] != 0) {
            return quarantine(out, value, NOT_WIRE_FORMAT + " (magic byte " + (value[0] & 0xff) + ", not 0)");
        }
        if (value.length < 5) {
            return quarantine(out, value, NOT_WIRE_FORMAT + " (truncated before the schema id)");
        }
        int id = ByteBuffer.wrap(value, 1, 4).getInt();
        RegistrySchemas.Lookup lookup;
        try {
            lookup = schemas.get(id);
        } catch (IOException unreachable) {
            throw new UncheckedIOException(unreachable);
        }
        if (lookup.schema == null) {
            return quarantine(out, value, lookup.problem);
        }
        GenericRecord record;
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, decoder);
            record = readers.computeIfAbsent(id, i -> new GenericDatumReader<>(lookup.schema)).read(null, decoder);
            if (!decoder.isEnd()) {
                return quarantine(out, value, "bytes left over after the Avro record (schema id " + id + ")");
            }
        } catch (EOFException truncated) {
            return quarantine(out, value, "truncated Avro payload (schema id " + id + ")");
        } catch (IOException | RuntimeException unreadable) {
            return quarantine(out, value, "undecodable Avro payload (schema id " + id + ")");
        }
        String[] texts = new String[contract.fields.size()];
        try {
            for (FieldRule f : contract.fields) {
                Schema.Field field = record.getSchema().getField(f.name);
                Object v = field == null ? null : record.get(field.pos());
                if (f.kind == FieldRule.Kind.JSON) {
                    out.values[f.index] = v == null ? null : StringData.fromString(EventParser.jsonText(plain(v)));
                } else {
                    texts[f.index] = scalarText(v);
                }
            }
            out.payloadText = EventParser.jsonText(plain(record));
        } catch (IOException notJson) {
            return quarantine(out, value, "undecodable Avro payload (schema id " + id + ")");
        }
        return rules.finish(out, texts);
    }

    private static EventParser.Parsed quarantine(EventParser.Parsed out, byte[] value, String reason) {
        out.reason = reason;
        out.payloadText = "base64:" + Base64.getEncoder().encodeToString(value);
        return out;
    }

    /** A scalar's text as the contract reads text: numbers as written, true/false; NULL for structures. */
    private static String scalarText(Object v) {
        if (v == null || v instanceof Map || v instanceof List || v instanceof GenericRecord) {
            return null;
        }
        if (v instanceof ByteBuffer) {
            return null;
        }
        return v.toString(); // Utf8, enum symbols, Integer, Long, Double, Float, Boolean
    }

    /** Avro's generic data as plain Java values for JSON: strings, maps with string keys (sorted when
     *  written), lists, numbers; bytes as base64. */
    private static Object plain(Object v) {
        if (v == null || v instanceof Number || v instanceof Boolean) {
            return v;
        }
        if (v instanceof GenericRecord) {
            GenericRecord r = (GenericRecord) v;
            Map<String, Object> out = new LinkedHashMap<>();
            for (Schema.Field f : r.getSchema().getFields()) {
                out.put(f.name(), plain(r.get(f.pos())));
            }
            return out;
        }
        if (v instanceof Map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                out.put(String.valueOf(e.getKey()), plain(e.getValue()));
            }
            return out;
        }
        if (v instanceof List) {
            List<Object> out = new ArrayList<>();
            for (Object item : (List<?>) v) {
                out.add(plain(item));
            }
            return out;
        }
        if (v instanceof ByteBuffer) {
            ByteBuffer b = ((ByteBuffer) v).duplicate();
            byte[] bytes = new byte[b.remaining()];
            b.get(bytes);
            return Base64.getEncoder().encodeToString(bytes);
        }
        return v.toString();
    }
}
