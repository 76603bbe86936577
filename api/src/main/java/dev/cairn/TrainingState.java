package dev.cairn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The named entries that make up one checkpoint, in the order they were added. Names are unique. */
public final class TrainingState {
    private final Map<String, Entry> entries;

    private TrainingState(Map<String, Entry> entries) {
        this.entries = Collections.unmodifiableMap(entries);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A state of the given entries; duplicate names are bad input. */
    public static TrainingState of(List<? extends Entry> entries) {
        Builder b = builder();
        entries.forEach(b::add);
        return b.build();
    }

    public List<Entry> entries() {
        return List.copyOf(entries.values());
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new CheckpointException(CheckpointException.Reason.NOT_FOUND, "no entry named '" + name + "'");
        }
        return e;
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    public Tensor tensor(String name) {
        Entry e = entry(name);
        if (e instanceof Tensor t) {
            return t;
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "entry '" + name + "' is a blob, not a tensor");
    }

    public Blob blob(String name) {
        Entry e = entry(name);
        if (e instanceof Blob b) {
            return b;
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "entry '" + name + "' is a tensor, not a blob");
    }

    /** Sum of every entry's bytes. */
    public long byteSize() {
        long n = 0;
        for (Entry e : entries.values()) {
            n += e.byteSize();
        }
        return n;
    }

    public int size() {
        return entries.size();
    }

    @Override
    public String toString() {
        return "TrainingState" + new ArrayList<>(entries.values());
    }

    /** Collects entries; {@link #build()} rejects duplicate names. */
    public static final class Builder {
        private final Map<String, Entry> entries = new LinkedHashMap<>();

        private Builder() {
        }

        public Builder add(Entry entry) {
            if (entry == null) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "entry is null");
            }
            if (entries.putIfAbsent(entry.name(), entry) != null) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "duplicate entry name '" + entry.name() + "'");
            }
            return this;
        }

        public Builder tensor(String name, DType dtype, long[] shape, java.nio.ByteBuffer... buffers) {
            return add(Tensor.of(name, dtype, shape, buffers));
        }

        public Builder blob(String name, byte[] bytes) {
            return add(Blob.of(name, bytes));
        }

        public TrainingState build() {
            return new TrainingState(new LinkedHashMap<>(entries));
        }
    }
}
