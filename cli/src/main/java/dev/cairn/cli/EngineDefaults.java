package dev.cairn.cli;

import dev.cairn.CairnConfig;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The defaults of the options that stand for engine settings, taken from {@link CairnConfig}, where the engine's
 * defaults live, so that the command line cannot drift from it: {@code --grace} (gcGrace), {@code --keep-last}
 * (a tier's keepLast) and {@code --chunk-size} (chunkBytes). Commands that have such options name this provider.
 */
public final class EngineDefaults implements CommandLine.IDefaultValueProvider {
    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option)) {
            return null;
        }
        return switch (option.longestName()) {
            case "--grace" -> DurationConverter.text(CairnConfig.DEFAULT_GC_GRACE);
            case "--keep-last" -> Integer.toString(CairnConfig.DEFAULT_KEEP_LAST);
            case "--chunk-size" -> ByteSizeConverter.text(CairnConfig.DEFAULT_CHUNK_BYTES);
            default -> null;
        };
    }
}
