package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Run by {@link PersistOnShutdownTest}: saves steps 1 to 13 into memory (every step) and disk (every 10) with
 * {@code persistOnShutdown(grace)}, prints {@code saved 13} once step 13 is in memory and step 10 on disk, then waits
 * to be sent SIGTERM. Arguments: {@code DISK-DIR GRACE-MS DISK-DELAY-MS} (a delay before every disk write).
 */
public final class PersistOnShutdownChild {
    static final int LAST = 13;

    static TrainingState state(long step) {
        return TrainingState.builder().add(Fixtures.randomTensor("w", DType.F32, 100_000, 500 + step))
                .add(Fixtures.randomTensor("frozen", DType.F32, 20_000, 9)).build();
    }

    public static void main(String[] args) throws Exception {
        Path diskDir = Path.of(args[0]);
        Duration grace = Duration.ofMillis(Long.parseLong(args[1]));
        long delayMillis = Long.parseLong(args[2]);
        MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
        ObjectStore disk = new SlowStore(new FileSystemObjectStore(diskDir), delayMillis);
        Checkpointer cp = Checkpointer.open(CairnConfig.builder("preempted").chunkBytes(64 << 10).stagingBytes(16L << 20)
                .encoderThreads(1).gcGrace(Duration.ZERO).persistOnShutdown(grace)
                .tier(TierConfig.of("memory", memory).everySteps(1).keepLast(2))
                .tier(TierConfig.of("disk", disk).everySteps(10).keepLast(3)).build());
        for (long step = 1; step <= LAST; step++) {
            cp.save(step, state(step)).done().get(10, TimeUnit.MINUTES);
        }
        System.out.println("saved " + LAST);
        System.out.flush();
        Thread.sleep(TimeUnit.MINUTES.toMillis(10)); // until SIGTERM; neither the stores nor the checkpointer are closed
        System.exit(3);
    }

    /** Waits {@code delayMillis} before every write: a disk slower than the shutdown grace. */
    static final class SlowStore extends ForwardingObjectStore {
        private final long delayMillis;

        SlowStore(ObjectStore delegate, long delayMillis) {
            super(delegate);
            this.delayMillis = delayMillis;
        }

        private void delay() throws IOException {
            if (delayMillis > 0) {
                try {
                    Thread.sleep(delayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            delay();
            super.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            delay();
            return super.putIfAbsent(key, data);
        }
    }
}
