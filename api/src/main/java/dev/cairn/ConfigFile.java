package dev.cairn;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The configuration file: {@code key = value} lines in the format of {@link Properties} ({@code #} or {@code !} starts
 * a comment line, a backslash escapes the next character or starts a Unicode escape, a line ending in an unescaped
 * backslash goes on in the next), save that the first unescaped {@code =} or {@code :} must split key from value, so
 * that a file {@link Properties#store} wrote reads back to the same values; read into a
 * {@link CairnConfig} through its builder, so that every value is checked exactly as the builder checks it. Every
 * error is an INVALID_CONFIG naming the key and, for a file, its line. Every value is checked before any store is
 * opened. The README's configuration table lists the keys.
 */
final class ConfigFile {
    static final String RUN = "run";
    static final String RANK = "rank";
    static final String WORLD_SIZE = "world.size";
    static final String CHUNK_BYTES = "chunk.bytes";
    static final String STAGING_BYTES = "staging.bytes";
    static final String ENCODER_THREADS = "encoder.threads";
    static final String COMPRESSION_LEVEL = "compression.level";
    static final String GC_GRACE = "gc.grace";
    static final String GC_SWEEP_EVERY = "gc.sweep.every";
    static final String DEADLINE = "deadline";
    static final String WHEN_BUSY = "when.busy";
    static final String PERSIST_ON_SHUTDOWN = "persist.on.shutdown";
    static final String PREFAULT_STAGING = "staging.prefault";
    static final String PREPARE_FIRST_SAVE = "save.prepare.first";
    static final String READ_ROWS_AHEAD = "read.rows.ahead";
    static final String DIFFERENTIAL = "differential.full.every";
    static final String LOSSY_PATTERN = "lossy.pattern";
    static final String LOSSY_BITS = "lossy.mantissa.bits";
    static final String TIERS = "tiers";
    /** Per tier: {@code tier.<name>.<suffix>}. */
    static final String TIER_STORE = "store";
    static final String TIER_EVERY = "every.steps";
    static final String TIER_KEEP = "keep.last";
    static final String TIER_LEVEL = "compression.level";
    /** Store settings, for every tier ({@code s3.endpoint}) or one ({@code tier.<name>.s3.endpoint}). */
    static final List<String> STORE_SETTINGS = List.of(ObjectStores.S3_ENDPOINT, ObjectStores.S3_REGION);

    private static final List<String> GLOBAL = List.of(RUN, RANK, WORLD_SIZE, CHUNK_BYTES, STAGING_BYTES, ENCODER_THREADS,
            COMPRESSION_LEVEL, GC_GRACE, GC_SWEEP_EVERY, DEADLINE, WHEN_BUSY, PERSIST_ON_SHUTDOWN, PREFAULT_STAGING, PREPARE_FIRST_SAVE, READ_ROWS_AHEAD, DIFFERENTIAL, LOSSY_PATTERN, LOSSY_BITS, TIERS);
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(B|KiB|MiB|GiB|TiB)?");
    private static final Pattern SPAN = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");

    /** A value and where it came from: its line in a file, or 0. */
    private record Value(String text, int line) {
    }

    private final String source;
    private final Map<String, Value> values;

    private ConfigFile(String source, Map<String, Value> values) {
        this.source = source;
        this.values = values;
    }

    static CairnConfig read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "no configuration file at " + file);
        } catch (IOException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "configuration file " + file
                    + " cannot be read: " + e.getMessage(), e);
        }
        Map<String, Value> values = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).stripLeading();
            int n = i + 1;
            if (line.isEmpty() || line.startsWith("#") || line.startsWith("!")) {
                continue;
            }
            while (continues(line)) {
                line = line.substring(0, line.length() - 1) + (i + 1 < lines.size() ? lines.get(++i).stripLeading() : "");
            }
            int split = separator(line);
            if (split <= 0) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, file + " line " + n
                        + ": expected key = value, found '" + line.strip() + "'");
            }
            String key = unescape(line.substring(0, split), file + " line " + n).strip();
            String text = unescape(line.substring(split + 1), file + " line " + n + ", key '" + key + "'").strip();
            if (key.endsWith("." + TIER_STORE) && endsInComment(line.substring(split + 1))) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, file + " line " + n + ", key '"
                        + key + "': '#' starts a comment only at the start of a line, so the location would be '" + text
                        + "': put the comment on a line of its own (a '#' in a location is written \\#)");
            }
            Value previous = values.put(key, new Value(text, n));
            if (previous != null) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, file + " line " + n + ": key '" + key
                        + "' is set twice (first on line " + previous.line() + ")");
            }
        }
        return new ConfigFile(file.toString(), values).build();
    }

    static CairnConfig read(Properties properties) {
        Map<String, Value> values = new LinkedHashMap<>();
        for (String key : new TreeMap<>(toStrings(properties)).keySet()) {
            values.put(key, new Value(properties.getProperty(key).strip(), 0));
        }
        return new ConfigFile("properties", values).build();
    }

    private static Map<String, String> toStrings(Properties p) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : p.stringPropertyNames()) {
            out.put(k, p.getProperty(k));
        }
        return out;
    }

    /** Whether {@code line} ends in an odd number of backslashes: the last one joins the next line to it. */
    private static boolean continues(String line) {
        int slashes = 0;
        for (int i = line.length() - 1; i >= 0 && line.charAt(i) == '\\'; i--) {
            slashes++;
        }
        return slashes % 2 == 1;
    }

    /**
     * Whether an unescaped {@code #} follows a space or a tab in {@code raw}: meant as a comment at the end of the line,
     * it would be part of the value.
     */
    private static boolean endsInComment(String raw) {
        boolean afterSpace = false;
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '#' && afterSpace) {
                return true;
            }
            if (c == '\\') {
                i++;
                afterSpace = false;
            } else {
                afterSpace = c == ' ' || c == '\t';
            }
        }
        return false;
    }

    /** The first {@code =} or {@code :} that no backslash escapes, or -1. */
    private static int separator(String line) {
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == '=' || c == ':') {
                return i;
            }
        }
        return -1;
    }

    /**
     * {@code text} with the escapes of {@link Properties} undone: backslash and t, n, r or f for a tab, a new line, a
     * carriage return or a form feed, backslash, u and four hexadecimal digits for that character, and a backslash
     * before any other character for that character.
     */
    private static String unescape(String text, String where) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != '\\' || i + 1 == text.length()) {
                out.append(c);
                continue;
            }
            c = text.charAt(++i);
            switch (c) {
                case 't' -> out.append('\t');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 'f' -> out.append('\f');
                case 'u' -> {
                    int code = 0;
                    for (int k = 1; k <= 4; k++) {
                        int digit = i + k < text.length() ? Character.digit(text.charAt(i + k), 16) : -1;
                        if (digit < 0) {
                            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, where
                                    + ": \\u must be followed by four hexadecimal digits, in '" + text.strip() + "'");
                        }
                        code = code << 4 | digit;
                    }
                    out.append((char) code);
                    i += 4;
                }
                case '\\', ':', '=', '#', '!', ' ' -> out.append(c);
                default -> // Properties would drop the backslash: a regex's \d would silently become d
                        throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, where + ": '\\" + c
                                + "' is not an escape; write a backslash as \\\\ (a pattern's \\d as \\\\d), in '"
                                + text.strip() + "'");
            }
        }
        return out.toString();
    }

    /** Makes a tier from its store's location: {@link TierConfig#at}, or a stand-in that opens nothing. */
    private interface TierOpener {
        TierConfig open(String tier, String location, Map<String, String> settings) throws IOException;
    }

    /**
     * Stands in for the store at {@code location} while the values are checked: one per tier, outside this process,
     * described by its location and settings (so that {@link CairnConfig.Builder#build} can tell two tiers on one store apart from
     * the file alone); nothing else of it may be called.
     */
    private static ObjectStore unopened(String location, Map<String, String> settings) {
        // The settings too: one bucket and prefix on two endpoints (MinIO and AWS) are two stores.
        String place = settings.isEmpty() ? location : location + " " + new java.util.TreeMap<>(settings);
        return (ObjectStore) Proxy.newProxyInstance(ObjectStore.class.getClassLoader(), new Class<?>[] {ObjectStore.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "describe", "location", "toString" -> place;
                    case "inMemory" -> false;
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    default -> throw new IllegalStateException("the store of a configuration being checked is not open");
                });
    }

    private CairnConfig build() {
        List<String> tierNames = tierNames();
        checkKeys(tierNames);
        // Opening a store creates its directory or an S3 client, so every value, and build()'s combinations, are
        // checked first with stand-ins; if a store then fails to open, those opened before it are closed.
        build(tierNames, (tier, location, settings) -> {
            ObjectStores.checkServed(location); // an unknown scheme fails here, before another tier's store is opened
            return TierConfig.of(tier, unopened(location, settings));
        });
        List<ObjectStore> opened = new ArrayList<>();
        try {
            return build(tierNames, (tier, location, settings) -> {
                TierConfig t = TierConfig.at(tier, location, settings);
                opened.add(t.store());
                return t;
            });
        } catch (RuntimeException e) {
            for (ObjectStore store : opened) {
                try {
                    store.close();
                } catch (IOException | RuntimeException c) {
                    e.addSuppressed(c);
                }
            }
            throw e;
        }
    }

    private CairnConfig build(List<String> tierNames, TierOpener opener) {
        CairnConfig.Builder b = guarded(RUN, v -> CairnConfig.builder(v));
        set(CHUNK_BYTES, v -> b.chunkBytes(Math.toIntExact(size(v))));
        set(STAGING_BYTES, v -> b.stagingBytes(size(v)));
        set(ENCODER_THREADS, v -> b.encoderThreads(integer(v)));
        set(COMPRESSION_LEVEL, v -> b.compressionLevel(integer(v)));
        set(GC_GRACE, v -> b.gcGrace(duration(v)));
        set(GC_SWEEP_EVERY, v -> b.gcSweepEvery(integer(v)));
        set(DEADLINE, v -> b.deadline(duration(v)));
        set(WHEN_BUSY, v -> b.whenBusy(whenBusy(v)));
        set(PERSIST_ON_SHUTDOWN, v -> b.persistOnShutdown(duration(v)));
        set(PREFAULT_STAGING, v -> b.prefaultStaging(bool(v)));
        set(PREPARE_FIRST_SAVE, v -> b.prepareFirstSave(bool(v)));
        set(READ_ROWS_AHEAD, v -> b.readRowsAhead(bool(v)));
        set(DIFFERENTIAL, v -> b.differential(integer(v)));
        if (values.containsKey(RANK) || values.containsKey(WORLD_SIZE)) {
            int world = values.containsKey(WORLD_SIZE) ? guarded(WORLD_SIZE, ConfigFile::integer) : 1;
            set(RANK, v -> b.rank(integer(v), world));
            if (!values.containsKey(RANK)) {
                set(WORLD_SIZE, v -> b.rank(0, world));
            }
        }
        if (values.containsKey(LOSSY_PATTERN) || values.containsKey(LOSSY_BITS)) {
            String pattern = required(LOSSY_PATTERN, "lossy mode needs both " + LOSSY_PATTERN + " and " + LOSSY_BITS);
            required(LOSSY_BITS, "lossy mode needs both " + LOSSY_PATTERN + " and " + LOSSY_BITS);
            set(LOSSY_BITS, v -> b.lossy(pattern, integer(v)));
        }
        for (String tier : tierNames) {
            String prefix = "tier." + tier + ".";
            String storeKey = prefix + TIER_STORE;
            required(storeKey, "tier '" + tier + "' is listed in '" + TIERS + "' but has no " + storeKey);
            Map<String, String> settings = new LinkedHashMap<>();
            for (String s : STORE_SETTINGS) {
                Value v = values.containsKey(prefix + s) ? values.get(prefix + s) : values.get(s);
                if (v != null) {
                    settings.put(s, v.text());
                }
            }
            TierConfig[] t = new TierConfig[1];
            set(storeKey, v -> {
                try {
                    t[0] = opener.open(tier, v, settings);
                } catch (IOException e) {
                    throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "store cannot be opened: " + e.getMessage(), e);
                }
            });
            set(prefix + TIER_EVERY, v -> t[0] = t[0].everySteps(longValue(v)));
            set(prefix + TIER_KEEP, v -> t[0] = t[0].keepLast(integer(v)));
            set(prefix + TIER_LEVEL, v -> t[0] = isNone(v) ? t[0].uncompressed() : t[0].compressionLevel(tierLevel(v)));
            b.tier(t[0]);
        }
        try {
            return b.build();
        } catch (CheckpointException e) {
            throw new CheckpointException(e.reason(), source + ": " + e.getMessage(), e);
        }
    }

    private List<String> tierNames() {
        String list = required(TIERS, "'" + TIERS + "' names the tiers, fastest first, e.g. tiers = memory, disk");
        List<String> names = new ArrayList<>();
        for (String part : list.split(",")) {
            String name = part.strip();
            if (name.isEmpty() || names.contains(name)) {
                throw fail(TIERS, name.isEmpty() ? "empty tier name in '" + list + "'" : "tier '" + name + "' is listed twice");
            }
            names.add(name);
        }
        return names;
    }

    /** Refuses a key no setting reads: a typo would otherwise be silently ignored. */
    private void checkKeys(List<String> tiers) {
        for (String key : values.keySet()) {
            if (GLOBAL.contains(key) || STORE_SETTINGS.contains(key)) {
                continue;
            }
            boolean known = false;
            // Any listed tier may own the key: tier.disk.fast.store belongs to disk.fast, though it starts with tier.disk.
            for (String t : tiers) {
                String prefix = "tier." + t + ".";
                if (!known && key.startsWith(prefix)) {
                    String rest = key.substring(prefix.length());
                    known = List.of(TIER_STORE, TIER_EVERY, TIER_KEEP, TIER_LEVEL).contains(rest) || STORE_SETTINGS.contains(rest);
                }
            }
            if (!known) {
                throw fail(key, key.startsWith("tier.") ? "unknown key (is the tier listed in '" + TIERS + "'? per tier: store,"
                        + " every.steps, keep.last, compression.level, s3.endpoint, s3.region)" : "unknown key");
            }
        }
    }

    private String required(String key, String why) {
        Value v = values.get(key);
        if (v == null || v.text().isEmpty()) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, source + ": missing key '" + key + "': " + why);
        }
        return v.text();
    }

    private interface Setter {
        void accept(String value);
    }

    private interface Parser<T> {
        T apply(String value);
    }

    private void set(String key, Setter setter) {
        if (values.containsKey(key)) {
            guarded(key, v -> {
                setter.accept(v);
                return null;
            });
        }
    }

    /** Runs {@code p} on the value of {@code key}; any failure names the key, the line and the value. */
    private <T> T guarded(String key, Parser<T> p) {
        Value v = values.get(key);
        if (v == null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, source + ": missing key '" + key + "'");
        }
        try {
            return p.apply(v.text());
        } catch (CheckpointException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, where(key, v) + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException | ArithmeticException | DateTimeParseException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, where(key, v) + ": '" + v.text()
                    + "' is not a valid value (" + e.getMessage() + ")", e);
        }
    }

    private CheckpointException fail(String key, String message) {
        return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, where(key, values.get(key)) + ": " + message);
    }

    private String where(String key, Value v) {
        return source + (v != null && v.line() > 0 ? " line " + v.line() : "") + ", key '" + key + "'";
    }

    /** A tier's {@value #TIER_LEVEL}: {@value #NO_COMPRESSION} stores its chunks uncompressed. */
    static final String NO_COMPRESSION = "none";

    private static boolean isNone(String v) {
        return v.strip().equalsIgnoreCase(NO_COMPRESSION);
    }

    private static int tierLevel(String v) {
        try {
            return integer(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("a tier's compression level is a zstd level in [-7, 22] or '"
                    + NO_COMPRESSION + "'");
        }
    }

    static int integer(String v) {
        return Integer.parseInt(v.strip());
    }

    static long longValue(String v) {
        return Long.parseLong(v.strip());
    }

    /** Bytes: a number, optionally followed by B, KiB, MiB, GiB or TiB. */
    static long size(String v) {
        Matcher m = SIZE.matcher(v.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("a size is a whole number of bytes, optionally with KiB, MiB, GiB or TiB");
        }
        long n = Long.parseLong(m.group(1));
        int shift = switch (m.group(2) == null ? "B" : m.group(2)) {
            case "KiB" -> 10;
            case "MiB" -> 20;
            case "GiB" -> 30;
            case "TiB" -> 40;
            default -> 0;
        };
        if (n > Long.MAX_VALUE >> shift) {
            throw new ArithmeticException("too large");
        }
        return n << shift;
    }

    /** A duration: 250ms, 90s, 10m, 2h, 7d, or ISO-8601 such as PT10M. */
    static Duration duration(String v) {
        String s = v.strip();
        Matcher m = SPAN.matcher(s);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }
        if (s.toUpperCase(Locale.ROOT).startsWith("P")) {
            return Duration.parse(s);
        }
        throw new IllegalArgumentException("a duration is like 250ms, 90s, 10m, 2h, 7d or PT10M");
    }

    private static boolean bool(String v) {
        return switch (v.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("must be true or false");
        };
    }

    private static WhenBusy whenBusy(String v) {
        for (WhenBusy w : WhenBusy.values()) {
            if (w.name().equalsIgnoreCase(v.strip())) {
                return w;
            }
        }
        throw new IllegalArgumentException("must be wait or skip");
    }

    /** {@code config} as keys and values that {@link #read(Properties)} reads back to an equal configuration. */
    static Properties write(CairnConfig config) {
        Properties p = new Properties();
        p.setProperty(RUN, config.run());
        p.setProperty(RANK, Integer.toString(config.rank()));
        p.setProperty(WORLD_SIZE, Integer.toString(config.worldSize()));
        p.setProperty(CHUNK_BYTES, Integer.toString(config.chunkBytes()));
        p.setProperty(STAGING_BYTES, Long.toString(config.stagingBytes()));
        p.setProperty(ENCODER_THREADS, Integer.toString(config.encoderThreads()));
        p.setProperty(COMPRESSION_LEVEL, Integer.toString(config.compressionLevel()));
        p.setProperty(GC_GRACE, config.gcGrace().toString());
        p.setProperty(GC_SWEEP_EVERY, Integer.toString(config.gcSweepEvery()));
        p.setProperty(DEADLINE, config.deadline().toString());
        p.setProperty(WHEN_BUSY, config.whenBusy().name().toLowerCase(java.util.Locale.ROOT));
        config.persistOnShutdown().ifPresent(g -> p.setProperty(PERSIST_ON_SHUTDOWN, g.toString()));
        p.setProperty(PREFAULT_STAGING, Boolean.toString(config.prefaultStaging()));
        p.setProperty(PREPARE_FIRST_SAVE, Boolean.toString(config.prepareFirstSave()));
        p.setProperty(READ_ROWS_AHEAD, Boolean.toString(config.readRowsAhead()));
        p.setProperty(DIFFERENTIAL, Integer.toString(config.differentialFullEvery()));
        config.lossyEntries().ifPresent(pattern -> {
            p.setProperty(LOSSY_PATTERN, pattern.pattern());
            p.setProperty(LOSSY_BITS, Integer.toString(config.lossyMantissaBits()));
        });
        List<String> names = new ArrayList<>();
        for (TierConfig t : config.tiers()) {
            String prefix = "tier." + t.name() + ".";
            names.add(t.name());
            p.setProperty(prefix + TIER_STORE, t.location().orElseThrow(() -> new CheckpointException(
                    CheckpointException.Reason.INVALID_CONFIG, "tier '" + t.name() + "' was given a store object, not a"
                    + " location, so it cannot be written to a configuration file (use TierConfig.at)")));
            p.setProperty(prefix + TIER_EVERY, Long.toString(t.everySteps()));
            p.setProperty(prefix + TIER_KEEP, Integer.toString(t.keepLast()));
            t.compressionLevel().ifPresent(l -> p.setProperty(prefix + TIER_LEVEL, Integer.toString(l)));
            if (t.uncompressedExplicitly()) {
                p.setProperty(prefix + TIER_LEVEL, NO_COMPRESSION);
            }
            t.settings().forEach((k, v) -> p.setProperty(prefix + k, v));
        }
        p.setProperty(TIERS, String.join(", ", names));
        if (config.coordinator().isPresent() || config.meterRegistry().isPresent()) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "a coordinator or a meter registry is an"
                    + " object of the application and cannot be written to a configuration file");
        }
        return p;
    }
}
