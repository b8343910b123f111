package io.kappa.contract;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.math.BigDecimal;
import java.time.DateTimeException;
import java.time.zone.ZoneRules;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A topic's contract (its JSON Schema in lakehouse/contracts/) compiled into field rules: the
 * `x-sql-type` of each property, `required`, `x-required-when`, `enum`, `maxLength`, `minimum`,
 * `maximum`. Properties are checked in the schema's order; the first violation is the reason.
 */
final class Contract {
    private static final Set<String> TIME_FORMATS = Set.of("epoch-ms", "iso-8601");
    private static final Pattern DECIMAL_TYPE = Pattern.compile("DECIMAL\\((\\d+),\\s*(\\d+)\\)");

    final List<FieldRule> fields;
    final Map<String, FieldRule> byName;
    final FieldRule eventTime;

    private Contract(List<FieldRule> fields, FieldRule eventTime) {
        this.fields = fields;
        Map<String, FieldRule> names = new HashMap<>();
        for (FieldRule f : fields) {
            names.put(f.name, f);
        }
        this.byName = names;
        this.eventTime = eventTime;
    }

    static Contract parse(String schemaJson, String eventTimeField) {
        JsonNode schema;
        try {
            schema = new ObjectMapper().readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the contract is not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode properties = schema.path("properties");
        if (!properties.isObject() || properties.size() == 0) {
            throw new IllegalArgumentException("the contract has no properties");
        }
        Set<String> required = new HashSet<>();
        schema.path("required").forEach(n -> required.add(n.asText()));
        List<String> names = new ArrayList<>();
        properties.fieldNames().forEachRemaining(names::add);

        List<FieldRule> fields = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            JsonNode prop = properties.get(name);
            String sqlType = prop.path("x-sql-type").asText("STRING");
            FieldRule.Kind kind;
            int precision = 0;
            int scale = 0;
            Matcher decimal = DECIMAL_TYPE.matcher(sqlType);
            if (decimal.matches()) {
                kind = FieldRule.Kind.DECIMAL;
                precision = Integer.parseInt(decimal.group(1));
                scale = Integer.parseInt(decimal.group(2));
            } else {
                try {
                    kind = FieldRule.Kind.valueOf(sqlType);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(
                            "property " + name + ": x-sql-type " + sqlType + " is not STRING, BIGINT, DOUBLE, "
                                    + "DECIMAL(p, s) or JSON", e);
                }
            }
            List<Map.Entry<Integer, Set<String>>> when = new ArrayList<>();
            Iterator<Map.Entry<String, JsonNode>> conditions = prop.path("x-required-when").fields();
            while (conditions.hasNext()) {
                Map.Entry<String, JsonNode> c = conditions.next();
                int other = names.indexOf(c.getKey());
                if (other < 0) {
                    throw new IllegalArgumentException(
                            "property " + name + " is required when " + c.getKey() + ", which is not a property");
                }
                Set<String> allowed = new HashSet<>();
                c.getValue().forEach(v -> allowed.add(v.asText()));
                when.add(new AbstractMap.SimpleImmutableEntry<>(other, allowed));
            }
            Set<String> enumValues = null;
            if (prop.has("enum")) {
                enumValues = new LinkedHashSet<>();
                for (JsonNode v : prop.get("enum")) {
                    enumValues.add(v.asText());
                }
            }
            Integer maxLength = prop.has("maxLength") ? prop.get("maxLength").asInt() : null;
            Set<String> formats = new HashSet<>();
            prop.path("x-time-formats").forEach(f -> formats.add(f.asText()));
            if (!TIME_FORMATS.containsAll(formats)) {
                throw new IllegalArgumentException("property " + name + ": x-time-formats " + formats
                        + " are not among " + TIME_FORMATS);
            }
            if (!formats.isEmpty() && kind != FieldRule.Kind.BIGINT) {
                throw new IllegalArgumentException("property " + name + ": a time field is BIGINT (epoch ms)");
            }
            ZoneRules zone;
            try {
                zone = TimeText.rules(prop.path("x-time-zone").asText("UTC"));
            } catch (DateTimeException e) {
                throw new IllegalArgumentException("property " + name + ": x-time-zone " + e.getMessage(), e);
            }
            fields.add(new FieldRule(name, i, kind, precision, scale, required.contains(name),
                    Collections.unmodifiableList(when), enumValues, maxLength, bound(prop.get("minimum")),
                    bound(prop.get("maximum")), formats.contains("epoch-ms"), formats.contains("iso-8601"), zone));
        }
        FieldRule eventTime = null;
        for (FieldRule f : fields) {
            if (f.name.equals(eventTimeField)) {
                eventTime = f;
            }
        }
        if (eventTime == null || eventTime.kind != FieldRule.Kind.BIGINT) {
            throw new IllegalArgumentException(
                    "the event-time field " + eventTimeField + " must be a BIGINT property of the contract");
        }
        return new Contract(Collections.unmodifiableList(fields), eventTime);
    }

    /** A bound as the contract's Python statement compares it: an integer exactly, a float as the
     *  double it is (0.1 is 0.1000000000000000055...). */
    private static BigDecimal bound(JsonNode node) {
        if (node == null || !node.isNumber()) {
            return null;
        }
        return node.isIntegralNumber() ? new BigDecimal(node.bigIntegerValue()) : new BigDecimal(node.doubleValue());
    }
}
