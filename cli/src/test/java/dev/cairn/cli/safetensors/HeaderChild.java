package dev.cairn.cli.safetensors;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Reads the header of the safetensors file {@code args[0]} and prints how many tensors it lists; for a small-heap JVM. */
public final class HeaderChild {
    private HeaderChild() {
    }

    public static void main(String[] args) throws Exception {
        try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
            System.out.println("tensors " + SafetensorsFormat.readHeader(ch, args[0]).tensors().size());
        }
    }
}
