package io.kappa.contract;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;

/**
 * Times written as epoch milliseconds or ISO-8601, read the way the contract reads them
 * (lakehouse/contracts.py states the same rules in Python):
 * <ul>
 *   <li>epoch-ms: an integer, as a number or as text (the BIGINT rules of {@link NumberText});</li>
 *   <li>iso-8601: YYYY-MM-DD, then T, t or a space, then hh:mm, optionally :ss and .fraction (1-9 digits,
 *   those past the millisecond dropped), then optionally Z, z, +hh, +hhmm or +hh:mm (or -). Without a
 *   zone the time is read in the field's zone (UTC unless the contract names one); a local time a
 *   clock change skips or repeats takes the offset before the change.</li>
 * </ul>
 */
final class TimeText {
    private TimeText() {}

    /** A time field's text as epoch milliseconds, in the first of its formats that reads it; null if none does. */
    static Long millis(String text, FieldRule field) {
        if (field.epochMs) {
            Long n = NumberText.bigint(text);
            if (n != null) {
                return n;
            }
        }
        return field.iso8601 ? iso8601(text, field.zone) : null;
    }

    /** Epoch milliseconds of an ISO-8601 time (the form above), or null; `zone` null means UTC. */
    static Long iso8601(String s, ZoneRules zone) {
        int n = s.length();
        if (n < 16 || s.charAt(4) != '-' || s.charAt(7) != '-' || s.charAt(13) != ':') {
            return null;
        }
        char sep = s.charAt(10);
        if (sep != 'T' && sep != 't' && sep != ' ') {
            return null;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        if (year < 1 || month < 0 || day < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59) {
            return null;
        }
        int i = 16;
        int second = 0;
        int millis = 0;
        if (i < n && s.charAt(i) == ':') {
            second = digits(s, i + 1, 2);
            if (second < 0 || second > 59) {
                return null;
            }
            i += 3;
            if (i < n && s.charAt(i) == '.') {
                int start = ++i;
                while (i < n && isDigit(s.charAt(i))) {
                    if (i - start < 3) {
                        millis = millis * 10 + (s.charAt(i) - '0');
                    }
                    i++;
                }
                int count = i - start;
                if (count < 1 || count > 9) {
                    return null;
                }
                for (int k = count; k < 3; k++) {
                    millis *= 10;
                }
            }
        }
        long epochDay;
        try {
            epochDay = LocalDate.of(year, month, day).toEpochDay();
        } catch (DateTimeException noSuchDay) {
            return null;
        }
        long offsetSeconds;
        if (i == n) {
            offsetSeconds = zone == null ? 0 : localOffset(zone, year, month, day, hour, minute, second);
        } else {
            char z = s.charAt(i);
            if ((z == 'Z' || z == 'z') && i + 1 == n) {
                offsetSeconds = 0;
            } else if (z == '+' || z == '-') {
                int oh = digits(s, i + 1, 2);
                int om = 0;
                int rest = n - (i + 3);
                if (rest == 3 && s.charAt(i + 3) == ':') {
                    om = digits(s, i + 4, 2);
                } else if (rest == 2) {
                    om = digits(s, i + 3, 2);
                } else if (rest != 0) {
                    return null;
                }
                if (oh < 0 || oh > 23 || om < 0 || om > 59) {
                    return null;
                }
                offsetSeconds = (oh * 3600L + om * 60L) * (z == '+' ? 1 : -1);
            } else {
                return null;
            }
        }
        return ((epochDay * 86_400L + hour * 3600L + minute * 60L + second) - offsetSeconds) * 1000L + millis;
    }

    /** The zone's offset at a local time; in a gap or an overlap, the offset before the change. */
    private static long localOffset(ZoneRules zone, int year, int month, int day, int hour, int minute, int second) {
        if (zone.isFixedOffset()) {
            return zone.getOffset(Instant.EPOCH).getTotalSeconds();
        }
        LocalDateTime local = LocalDateTime.of(year, month, day, hour, minute, second);
        ZoneOffsetTransition change = zone.getTransition(local);
        return (change != null ? change.getOffsetBefore() : zone.getOffset(local)).getTotalSeconds();
    }

    static ZoneRules rules(String zoneId) {
        ZoneId zone = ZoneId.of(zoneId);
        return "UTC".equals(zoneId) ? null : zone.getRules();
    }

    /** The value of `count` ASCII digits at `at`, or -1 when they are not all there. */
    private static int digits(String s, int at, int count) {
        if (at + count > s.length()) {
            return -1;
        }
        int value = 0;
        for (int k = at; k < at + count; k++) {
            char c = s.charAt(k);
            if (!isDigit(c)) {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }
}
