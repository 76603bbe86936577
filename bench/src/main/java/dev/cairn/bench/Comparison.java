package dev.cairn.bench;

import java.util.Locale;

/**
 * A figure of the product beside the machine's limit for the same work, measured in the same run on the same bytes.
 *
 * @param key     stable name, used in JSON
 * @param measure how the ratio is taken
 * @param goal    the ratio the product should reach (at most for {@link Measure#TIME}, at least for
 *                {@link Measure#THROUGHPUT}); NaN for none
 */
public record Comparison(String key, String label, Figure product, Figure limit, Measure measure, double goal) {

    /** Which way a ratio reads. */
    public enum Measure {
        /** product median time / limit median time: lower is better. */
        TIME,
        /** product throughput / limit throughput (limit time / product time): higher is better. */
        THROUGHPUT
    }

    public double ratio() {
        double p = Math.max(1, product.medianNanos());
        double l = Math.max(1, limit.medianNanos());
        return measure == Measure.TIME ? p / l : l / p;
    }

    public boolean hasGoal() {
        return !Double.isNaN(goal);
    }

    /** Whether the goal is met; true when there is none. */
    public boolean met() {
        if (!hasGoal()) {
            return true;
        }
        return measure == Measure.TIME ? ratio() <= goal : ratio() >= goal;
    }

    /** {@code <= 1.20x}, {@code >= 0.80x}, or {@code none}. */
    public String goalText() {
        if (!hasGoal()) {
            return "none";
        }
        return String.format(Locale.ROOT, "%s %.2fx", measure == Measure.TIME ? "<=" : ">=", goal);
    }
}
