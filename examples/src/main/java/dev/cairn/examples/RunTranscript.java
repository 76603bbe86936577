package dev.cairn.examples;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * What one {@link dev.cairn.examples.mlp.TrainMain} process printed, parsed (the line formats are documented
 * there). Lines of other kinds, such as PyTorch's warnings, are kept in {@link #lines()} and otherwise ignored.
 */
final class RunTranscript {
    /** One checkpoint line: committed in every tier ({@code failure} null) or failed. */
    record Checkpoint(long step, long stallNanos, long rawBytes, Map<String, Long> writtenByTier, String failure) {
    }

    /** The {@code restored step ...} line. */
    record Restored(long step, String tier, long restoreNanos, Map<String, Long> readByTier, long repaired) {
    }

    private final List<String> lines;
    private final Map<Long, Integer> lossBits = new TreeMap<>();
    private final List<Checkpoint> checkpoints = new ArrayList<>();
    private final List<String> errors = new ArrayList<>();
    private Restored restored;
    private Long pausedStep;
    private final Map<String, Long> pausedCommitted = new LinkedHashMap<>();
    private String finalHash;

    private RunTranscript(List<String> lines) {
        this.lines = List.copyOf(lines);
        for (String line : lines) {
            accept(line.strip().split(" "));
        }
    }

    static RunTranscript parse(List<String> lines) {
        return new RunTranscript(lines);
    }

    private void accept(String[] w) {
        try {
            switch (w[0]) {
                case "step" -> {
                    if (w.length >= 4 && w[2].equals("loss")) {
                        lossBits.put(Long.parseLong(w[1]), Integer.parseUnsignedInt(w[3], 16));
                    }
                }
                case "checkpoint" -> checkpoints.add(checkpoint(w));
                case "restored" -> {
                    if (w.length >= 11 && w[1].equals("step")) {
                        restored = new Restored(Long.parseLong(w[2]), w[4], Long.parseLong(w[6]), pairs(w[8]),
                                Long.parseLong(w[10]));
                    }
                }
                case "paused" -> {
                    pausedStep = Long.parseLong(w[2]);
                    for (int i = 3; i + 1 < w.length; i += 2) {
                        if (w[i].endsWith("-committed")) {
                            pausedCommitted.put(w[i].substring(0, w[i].length() - "-committed".length()),
                                    Long.parseLong(w[i + 1]));
                        }
                    }
                }
                case "final-param-hash" -> finalHash = w[1];
                case "error", "gc-failure" -> errors.add(String.join(" ", w));
                default -> {
                    // not ours
                }
            }
        } catch (RuntimeException e) {
            errors.add("unparsable line: " + String.join(" ", w));
        }
    }

    private static Checkpoint checkpoint(String[] w) {
        long step = Long.parseLong(w[1]);
        long stall = Long.parseLong(w[3]);
        if (w[4].equals("failed")) {
            StringBuilder m = new StringBuilder();
            for (int i = 5; i < w.length; i++) {
                m.append(i > 5 ? " " : "").append(w[i]);
            }
            return new Checkpoint(step, stall, 0, Map.of(), m.toString());
        }
        return new Checkpoint(step, stall, Long.parseLong(w[5]), pairs(w[7]), null);
    }

    private static Map<String, Long> pairs(String token) {
        Map<String, Long> out = new LinkedHashMap<>();
        if (!token.equals("none")) {
            for (String pair : token.split(",")) {
                int eq = pair.indexOf('=');
                out.put(pair.substring(0, eq), Long.parseLong(pair.substring(eq + 1)));
            }
        }
        return Collections.unmodifiableMap(out);
    }

    List<String> lines() {
        return lines;
    }

    /** Loss of each step printed, as float bits. */
    Map<Long, Integer> lossBits() {
        return Collections.unmodifiableMap(lossBits);
    }

    List<Checkpoint> checkpoints() {
        return List.copyOf(checkpoints);
    }

    Restored restored() {
        return restored;
    }

    OptionalLong pausedStep() {
        return pausedStep == null ? OptionalLong.empty() : OptionalLong.of(pausedStep);
    }

    /** Newest checkpoint committed in {@code tier} (a slow tier: disk, s3) when the run paused, or -1. */
    long pausedCommitted(String tier) {
        return pausedCommitted.getOrDefault(tier, -1L);
    }

    String finalHash() {
        return finalHash;
    }

    List<String> errors() {
        return List.copyOf(errors);
    }
}
