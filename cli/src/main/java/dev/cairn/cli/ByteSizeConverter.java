package dev.cairn.cli;

import dev.cairn.bench.ByteSize;
import picocli.CommandLine;

/** Sizes such as {@code 1g}, {@code 512m} or {@code 1073741824} for options that take bytes. */
public final class ByteSizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        try {
            return ByteSize.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    /** {@code bytes} as this converter reads it, in its largest whole binary unit: {@code 4m} for 4 MiB. */
    static String text(long bytes) {
        String units = "kmgt";
        int unit = -1;
        while (unit + 1 < units.length() && bytes != 0 && bytes % (1L << (10 * (unit + 2))) == 0) {
            unit++;
        }
        return unit < 0 ? Long.toString(bytes) : (bytes >> (10 * (unit + 1))) + String.valueOf(units.charAt(unit));
    }
}
