package io.kappa.contract;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * Numbers written as text, read the way the contract reads them (lakehouse/contracts.py states the
 * same rules in Python): ASCII digits, an optional sign, spaces around; BIGINT written as an integer;
 * DECIMAL(p, s) rounded half up to s places, holding p - s integer digits, its exponent not below -20;
 * DOUBLE finite. Anything else (NaN, Infinity, 1_000, 0x10, non-ASCII digits) is not a number.
 */
final class NumberText {
    /** Exponents below this are refused in DECIMAL fields (Flink's own cast was erratic there). */
    static final int MIN_DECIMAL_EXPONENT = -20;

    private NumberText() {}

    /** The integer, or null when the text is not an integer or does not fit in 64 bits. */
    static Long bigint(String text) {
        int end = trimmedEnd(text);
        int i = skipSpaces(text, 0);
        int start = i;
        if (i < end && (text.charAt(i) == '+' || text.charAt(i) == '-')) {
            i++;
        }
        int digits = i;
        while (i < end && isDigit(text.charAt(i))) {
            i++;
        }
        if (i == digits || i != end) {
            return null;
        }
        try {
            return Long.parseLong(text.substring(start, end));
        } catch (NumberFormatException tooBig) {
            return null;
        }
    }

    /** The value rounded half up to `scale` places, or null when it is not a plain or exponent
     *  number, its exponent is below -20, or it needs more than precision - scale integer digits. */
    static BigDecimal decimal(String text, int precision, int scale) {
        if (!isNumber(text, true)) {
            return null;
        }
        BigDecimal limit = BigDecimal.ONE.scaleByPowerOfTen(precision - scale);
        BigDecimal raw;
        try {
            raw = new BigDecimal(text.substring(skipSpaces(text, 0), trimmedEnd(text)));
        } catch (NumberFormatException | ArithmeticException outOfRange) {
            return null; // an exponent beyond what BigDecimal holds: far too big or too small
        }
        if (raw.abs().compareTo(limit) >= 0) {
            return null;
        }
        BigDecimal fixed = raw.setScale(scale, RoundingMode.HALF_UP);
        return fixed.abs().compareTo(limit) < 0 ? fixed : null;
    }

    /** The finite double, or null. */
    static Double doubleValue(String text) {
        if (!isNumber(text, false)) {
            return null;
        }
        double value = Double.parseDouble(text.substring(skipSpaces(text, 0), trimmedEnd(text)));
        return Double.isFinite(value) ? value : null;
    }

    /**
     * ` *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *`; with `decimalLiteral`, a negative
     * exponent must not be below -20 (leading zeros allowed).
     */
    static boolean isNumber(String text, boolean decimalLiteral) {
        int end = trimmedEnd(text);
        int i = skipSpaces(text, 0);
        if (i < end && (text.charAt(i) == '+' || text.charAt(i) == '-')) {
            i++;
        }
        int intStart = i;
        while (i < end && isDigit(text.charAt(i))) {
            i++;
        }
        boolean intDigits = i > intStart;
        boolean fracDigits = false;
        if (i < end && text.charAt(i) == '.') {
            i++;
            int fracStart = i;
            while (i < end && isDigit(text.charAt(i))) {
                i++;
            }
            fracDigits = i > fracStart;
        }
        if (!intDigits && !fracDigits) {
            return false;
        }
        if (i < end && (text.charAt(i) == 'e' || text.charAt(i) == 'E')) {
            i++;
            boolean negative = false;
            if (i < end && (text.charAt(i) == '+' || text.charAt(i) == '-')) {
                negative = text.charAt(i) == '-';
                i++;
            }
            int expStart = i;
            long magnitude = 0;
            while (i < end && isDigit(text.charAt(i))) {
                magnitude = Math.min(magnitude * 10 + (text.charAt(i) - '0'), Integer.MAX_VALUE);
                i++;
            }
            if (i == expStart) {
                return false;
            }
            if (decimalLiteral && negative && -magnitude < MIN_DECIMAL_EXPONENT) {
                return false;
            }
        }
        return i == end;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static int skipSpaces(String text, int from) {
        int i = from;
        while (i < text.length() && text.charAt(i) == ' ') {
            i++;
        }
        return i;
    }

    private static int trimmedEnd(String text) {
        int end = text.length();
        while (end > 0 && text.charAt(end - 1) == ' ') {
            end--;
        }
        return end;
    }
}
