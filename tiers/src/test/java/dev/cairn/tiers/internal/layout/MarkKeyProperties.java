package dev.cairn.tiers.internal.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Locale;
import java.util.OptionalLong;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

/** A step mark's key: the step in 19 digits, zeros first, in its group's prefix; and back to the step. */
class MarkKeyProperties {
    private final StoreLayout layout = new StoreLayout("run");

    @Property(tries = 500)
    void theStepInNineteenDigitsReadBack(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long step,
                                         @ForAll @IntRange(min = 0, max = 100) int group) {
        String key = layout.markKey(group, step);
        assertEquals(layout.markGroupPrefix(group) + String.format(Locale.ROOT, "%019d", step), key);
        assertEquals(OptionalLong.of(step), layout.stepOfMarkKey(key));
    }

    @Property(tries = 50)
    void smallAndLargestStepsToo(@ForAll @LongRange(min = 0, max = 1000) long step) {
        assertEquals("run/marks/0/" + "0".repeat(19 - Long.toString(step).length()) + step, layout.markKey(0, step));
        assertEquals("run/marks/3/9223372036854775807", layout.markKey(3, Long.MAX_VALUE));
    }
}
