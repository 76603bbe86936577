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
}
