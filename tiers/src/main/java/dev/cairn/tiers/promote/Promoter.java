package dev.cairn.tiers.promote;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CommitReport;
import dev.cairn.tiers.ChunkCatalog;
import dev.cairn.tiers.Tier;
import dev.cairn.tiers.commit.CommitProtocol;
import dev.cairn.tiers.manifest.ChunkRef;
import dev.cairn.tiers.manifest.EntryRecord;
import dev.cairn.tiers.manifest.Manifest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Copies committed checkpoints from a faster tier to a slower one. Chunks are copied on the target's I/O threads in
 * parallel; both catalogs pin every chunk of the step until the target commits, so neither tier's GC can take a
 * chunk the copy still needs, even if the source retires the step meanwhile.
 */
public final class Promoter {
    private final CommitProtocol commits;
    private final Consumer<Tier> afterCommit;
    private final ThreadLocal<ByteBuffer> buffer = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(0));

    /** @param afterCommit run on the target under its commit lock after each promotion commits (retention, GC) */
    public Promoter(CommitProtocol commits, Consumer<Tier> afterCommit) {
        this.commits = commits;
        this.afterCommit = afterCommit;
    }

    /**
     * Starts copying {@code manifest} (committed in {@code source}) to {@code target}; completes {@code done} with
     * the target's commit report or a CheckpointException. Call before the caller releases its own pins in source.
     */
    public void promote(Manifest manifest, Tier source, Tier target, CompletableFuture<CommitReport> done,
                        java.util.function.BooleanSupplier claim) {
        Map<String, Long> chunks = new LinkedHashMap<>();
        for (EntryRecord e : manifest.entries()) {
            for (ChunkRef c : e.chunks()) {
                chunks.putIfAbsent(c.hash(), c.storedLength());
            }
        }
        ChunkCatalog from;
        ChunkCatalog to;
        try {
            from = source.catalog();
            to = target.catalog();
        } catch (IOException e) {
            done.completeExceptionally(failure(manifest, target, e));
            return;
        }
        Map<String, Long> missing = new LinkedHashMap<>();
        // Chunks the target already holds may be stored there in another form (another codec or level): its
        // manifest must record the target's own stored length, or a read would stop short.
        Map<String, Long> heldByTarget = new LinkedHashMap<>();
        for (Map.Entry<String, Long> c : chunks.entrySet()) {
            from.pin(c.getKey());
            long held = to.pin(c.getKey());
            if (held < 0) {
                missing.put(c.getKey(), c.getValue());
            } else if (held != c.getValue()) {
                heldByTarget.put(c.getKey(), held);
            }
        }
        Manifest forTarget = heldByTarget.isEmpty() ? manifest : withStoredLengths(manifest, heldByTarget, to);
        AtomicInteger left = new AtomicInteger(missing.size());
        AtomicLong written = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicReference<Throwable> error = new AtomicReference<>();
        Runnable finish = () -> commit(forTarget, source, target, chunks, written.get(), bytes.get(), error.get(), done, claim);
        if (missing.isEmpty()) {
            try {
                target.io().execute(finish);
            } catch (RuntimeException rejected) {
                error.compareAndSet(null, rejected);
                finish.run(); // fails the future and releases the pins
            }
            return;
        }
        for (Map.Entry<String, Long> c : missing.entrySet()) {
            try {
                target.io().execute(() -> {
                    try {
                        if (error.get() == null && !done.isDone()) {
                            copy(c.getKey(), c.getValue(), source, target, to, written, bytes);
                        }
                    } catch (Throwable t) {
                        error.compareAndSet(null, t);
                    } finally {
                        if (left.decrementAndGet() == 0) {
                            finish.run();
                        }
                    }
                });
            } catch (RuntimeException rejected) {
                error.compareAndSet(null, rejected);
                if (left.decrementAndGet() == 0) {
                    finish.run();
                }
            }
        }
    }

    private static Manifest withStoredLengths(Manifest m, Map<String, Long> lengths, ChunkCatalog to) {
        java.util.List<EntryRecord> entries = new java.util.ArrayList<>();
        for (EntryRecord e : m.entries()) {
            java.util.List<ChunkRef> refs = new java.util.ArrayList<>();
            for (ChunkRef c : e.chunks()) {
                Long held = lengths.get(c.hash());
                String codec = held == null ? c.codec() : java.util.Objects.requireNonNullElse(to.codecOf(c.hash()), c.codec());
                refs.add(held == null ? c : c.storedAs(codec, held, c.bases()));
            }
            entries.add(e.withChunks(refs));
        }
        return new Manifest(m.formatVersion(), m.run(), m.step(), m.worldSize(), m.rank(), m.createdAt(), m.chunkBytes(), entries);
    }

    /** Copies one stored chunk, verbatim, from source to target. */
    private void copy(String hash, long storedLength, Tier source, Tier target, ChunkCatalog to, AtomicLong written,
                      AtomicLong bytes) throws IOException {
        ByteBuffer b = buffer(Math.toIntExact(storedLength));
        String key = source.layout().chunkKey(hash);
        int n = 0;
        while (n < storedLength) {
            int got = source.store().read(key, n, b.limit((int) storedLength).position(n));
            if (got <= 0) {
                throw new IOException("chunk " + key + " in tier " + source.name() + " ended at " + n + " of " + storedLength + " bytes");
            }
            n += got;
        }
        target.store().put(target.layout().chunkKey(hash), b.flip());
        to.markPresent(hash, storedLength);
        written.incrementAndGet();
        bytes.addAndGet(storedLength);
    }

    private void commit(Manifest manifest, Tier source, Tier target, Map<String, Long> chunks, long written, long bytes,
                        Throwable error, CompletableFuture<CommitReport> done, java.util.function.BooleanSupplier claim) {
        target.commitLock().lock();
        try {
            if (error != null) {
                done.completeExceptionally(failure(manifest, target, error));
            } else if (claim.getAsBoolean()) {
                done.complete(commits.commit(target, manifest, written, bytes));
                afterCommit.accept(target);
            }
        } catch (Throwable t) {
            done.completeExceptionally(failure(manifest, target, t));
        } finally {
            unpin(source, target, chunks);
            target.commitLock().unlock();
        }
    }

    private static void unpin(Tier source, Tier target, Map<String, Long> chunks) {
        try {
            ChunkCatalog from = source.catalog();
            ChunkCatalog to = target.catalog();
            for (String hash : chunks.keySet()) {
                from.unpin(hash);
                to.unpin(hash);
            }
        } catch (IOException e) {
            // Both catalogs were loaded when the pins were taken.
        }
    }

    private ByteBuffer buffer(int capacity) {
        ByteBuffer b = buffer.get();
        if (b.capacity() < capacity) {
            b = ByteBuffer.allocateDirect(capacity);
            buffer.set(b);
        }
        return b.clear();
    }

    private static CheckpointException failure(Manifest m, Tier target, Throwable t) {
        if (t instanceof CheckpointException c) {
            return c;
        }
        return new CheckpointException(Reason.STORAGE, "promotion of step " + m.step() + " to tier " + target.name()
                + " failed: " + t, t);
    }
}
