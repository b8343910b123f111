package io.kappa.contract;

import java.math.BigDecimal;
import java.time.zone.ZoneRules;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** One property of a contract: its SQL kind and the checks its text must pass. */
final class FieldRule {
    enum Kind { STRING, BIGINT, DECIMAL, DOUBLE, JSON }

    final String name;
    final int index;
    final Kind kind;
    final int precision;
    final int scale;
    final boolean required;
    /** Needed when another field's text is one of these (x-required-when): field index -> texts. */
    final List<Map.Entry<Integer, Set<String>>> requiredWhen;
    final Set<String> enumValues;
    final Integer maxLength;
    final BigDecimal minimum;
    final BigDecimal maximum;
    /** A time field (`x-time-formats`): which forms it takes and the zone of times written without one
     *  (null: UTC). A time is stored as epoch milliseconds (BIGINT). */
    final boolean epochMs;
    final boolean iso8601;
    final ZoneRules zone;
    final String missing;
    final String invalid;
    final String tooLong;
    final String outOfRange;

    FieldRule(String name, int index, Kind kind, int precision, int scale, boolean required,
              List<Map.Entry<Integer, Set<String>>> requiredWhen, Set<String> enumValues, Integer maxLength,
              BigDecimal minimum, BigDecimal maximum, boolean epochMs, boolean iso8601, ZoneRules zone) {
        this.name = name;
        this.index = index;
        this.kind = kind;
        this.precision = precision;
        this.scale = scale;
        this.required = required;
        this.requiredWhen = requiredWhen;
        this.enumValues = enumValues;
        this.maxLength = maxLength;
        this.minimum = minimum;
        this.maximum = maximum;
        this.epochMs = epochMs;
        this.iso8601 = iso8601;
        this.zone = zone;
        this.missing = "missing " + name;
        this.invalid = isTime() ? "invalid " + name + ": not " + (iso8601 ? "ISO-8601" : "")
                + (iso8601 && epochMs ? " or " : "") + (epochMs ? "epoch ms" : "") : "invalid " + name;
        this.tooLong = name + " too long";
        this.outOfRange = name + " out of range";
    }

    boolean isTime() {
        return epochMs || iso8601;
    }

    boolean needed(String[] texts) {
        if (required) {
            return true;
        }
        for (Map.Entry<Integer, Set<String>> when : requiredWhen) {
            String other = texts[when.getKey()];
            if (other != null && when.getValue().contains(other)) {
                return true;
            }
        }
        return false;
    }

    boolean outOfRange(BigDecimal value) {
        return (minimum != null && value.compareTo(minimum) < 0) || (maximum != null && value.compareTo(maximum) > 0);
    }

    boolean outOfRange(double value) {
        return (minimum != null && value < minimum.doubleValue()) || (maximum != null && value > maximum.doubleValue());
    }
}
