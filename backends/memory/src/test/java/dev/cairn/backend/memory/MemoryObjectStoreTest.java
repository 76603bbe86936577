package dev.cairn.backend.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class MemoryObjectStoreTest extends ObjectStoreContract {

    @Override
    protected ObjectStore newStore() {
        return new MemoryObjectStore(256L << 20);
    }

    @Test
    void aPutBeyondTheLimitFailsSayingTheTierIsFullAndKeepsWhatWasThere() throws IOException {
        try (MemoryObjectStore small = new MemoryObjectStore(1000)) {
            small.put("a", ByteBuffer.allocate(600));
            small.put("b", ByteBuffer.allocate(300));

            IOException full = assertThrows(IOException.class, () -> small.put("a", ByteBuffer.allocate(200)));
            assertTrue(full.getMessage().contains("full"), full.getMessage());
            assertTrue(full.getMessage().contains("1000"), full.getMessage());
            assertTrue(full.getMessage().contains("900"), full.getMessage());
            assertThrows(IOException.class, () -> small.putIfAbsent("c", ByteBuffer.allocate(101)));

            assertEquals(900, small.usedBytes());
            assertEquals(600, small.stat("a").size());
            small.put("c", ByteBuffer.allocate(100));
            assertEquals(1000, small.usedBytes());
        }
    }

    @Test
    void accountingCountsObjectBytesAndReturnsToZeroAfterDeleteAndClose() throws IOException {
        MemoryObjectStore memory = new MemoryObjectStore(1 << 20);
        memory.put("a", ByteBuffer.allocate(1000));
        memory.put("b/c", ByteBuffer.allocate(24));
        assertTrue(memory.putIfAbsent("d", ByteBuffer.allocate(1)));
        assertEquals(1025, memory.usedBytes(), "exact sizes, no power-of-two rounding");
        assertEquals(1 << 20, memory.limitBytes());

        memory.put("a", ByteBuffer.allocate(10));
        assertEquals(35, memory.usedBytes(), "a replaced object's memory is freed");

        memory.delete("a");
        memory.delete("b/c");
        memory.delete("d");
        assertEquals(0, memory.usedBytes());

        memory.put("left/behind", ByteBuffer.allocate(4096));
        memory.close(); // frees what is left; the allocator would throw on a leak
        assertEquals(0, memory.usedBytes());
    }

    @Test
    void aStoreOnAParentAllocatorGivesEverythingBackToIt() throws IOException {
        try (BufferAllocator parent = new RootAllocator(64L << 20)) {
            MemoryObjectStore memory = new MemoryObjectStore(parent, 1 << 20);
            memory.put("a", ByteBuffer.allocate(4096));
            assertEquals(4096, parent.getAllocatedMemory());
            assertThrows(IOException.class, () -> memory.put("too-big", ByteBuffer.allocate(2 << 20)));

            memory.close();
            assertEquals(0, parent.getAllocatedMemory());
        } // the parent's close fails if the child leaked or was left open
    }

    @Test
    void aSharedObjectKeepsItsBytesThroughReplaceDeleteAndCloseAndIsThenChargedToItsHolder() throws IOException {
        try (BufferAllocator root = new RootAllocator(AllocationListener.NOOP, 64L << 20, size -> size);
             BufferAllocator holder = root.newChildAllocator("holder", 0, 1 << 20)) {
            MemoryObjectStore memory = new MemoryObjectStore(root, 1 << 20);
            memory.put("a", ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5}));
            memory.put("empty", ByteBuffer.allocate(0));
            try (ArrowBuf shared = memory.share("a", holder); ArrowBuf empty = memory.share("empty", holder)) {
                assertEquals(5, shared.readableBytes());
                assertEquals(0, empty.readableBytes());
                assertEquals(0, holder.getAllocatedMemory(), "no copy: the store still owns the memory");

                memory.put("a", ByteBuffer.wrap(new byte[] {9}));
                memory.delete("a");
                memory.close(); // its allocator would throw if the shared memory still counted against it
                assertEquals(5, holder.getAllocatedMemory(), "the holder pays for what it kept alive");
                assertEquals(3, shared.getByte(2), "the first version's bytes, unchanged");
            }
            assertEquals(0, holder.getAllocatedMemory());
        }
        try (MemoryObjectStore memory = new MemoryObjectStore(1024); BufferAllocator other = new RootAllocator(1024)) {
            assertThrows(NoSuchFileException.class, () -> memory.share("missing", other));
        }
    }

    @Test
    void theMemoryOfADeletedChunkHoldsTheNextChunkOfASimilarSizeWithoutShowingItsOldBytes() throws IOException {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20)) {
            memory.put("chunk-1", filled(3 << 20, (byte) 7));
            memory.delete("chunk-1");
            assertEquals(0, memory.usedBytes(), "kept memory is not counted as used");
            assertEquals(3 << 20, memory.keptBytes());

            int smaller = (3 << 20) - 100_000; // within 1/16 below the kept buffer's capacity
            memory.put("chunk-2", filled(smaller, (byte) 1));
            assertEquals(1, memory.reusedBuffers());
            assertEquals(0, memory.keptBytes());
            assertEquals(smaller, memory.stat("chunk-2").size());
            ByteBuffer back = ByteBuffer.allocate(3 << 20);
            assertEquals(smaller, memory.read("chunk-2", 0, back), "the object ends at its own size");
            for (int i = 0; i < smaller; i++) {
                assertEquals(1, back.get(i));
            }

            memory.put("chunk-3", filled(1 << 20, (byte) 2)); // a third of the size: new memory
            assertEquals(1, memory.reusedBuffers());
        }
    }

    @Test
    void keptMemoryNeverMakesAPutFailAndIsBoundedByAQuarterOfTheLimit() throws IOException {
        try (MemoryObjectStore memory = new MemoryObjectStore(8L << 20)) {
            for (int i = 0; i < 3; i++) {
                memory.put("c" + i, filled(1 << 20, (byte) i));
            }
            for (int i = 0; i < 3; i++) {
                memory.delete("c" + i);
            }
            assertEquals(2 << 20, memory.keptBytes(), "at most a quarter of the limit is kept");
            // fits only once the kept memory is freed
            memory.put("big", filled((8 << 20) - 1000, (byte) 5));
            assertEquals(0, memory.keptBytes());
            assertEquals((8 << 20) - 1000, memory.stat("big").size());
            assertEquals((8 << 20) - 1000, memory.usedBytes());
        }
    }

    @Test
    void theMemoryOfASharedObjectIsNeverReusedWhileItsHolderReadsIt() throws IOException {
        try (BufferAllocator root = new RootAllocator(AllocationListener.NOOP, 64L << 20, size -> size);
             BufferAllocator holder = root.newChildAllocator("holder", 0, 8L << 20)) {
            MemoryObjectStore memory = new MemoryObjectStore(root, 16L << 20);
            memory.put("a", filled(1 << 20, (byte) 3));
            try (ArrowBuf shared = memory.share("a", holder)) {
                memory.delete("a");
                memory.put("b", filled(1 << 20, (byte) 4));
                assertEquals(0, memory.reusedBuffers());
                assertEquals(3, shared.getByte((1 << 20) - 1), "the holder's bytes are still the first object's");
            }
            memory.close();
        }
    }

    @Test
    void aLeasedObjectKeepsItsBytesUntilTheLeaseClosesAndItsMemoryIsThenReused() throws IOException {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20)) {
            memory.put("chunk", filled(1 << 20, (byte) 6));
            try (MemoryObjectStore.Lease lease = memory.lease("chunk")) {
                memory.delete("chunk");
                memory.put("next", filled(1 << 20, (byte) 8));
                assertEquals(0, memory.reusedBuffers(), "memory under a lease is not handed out");
                assertEquals(0, memory.keptBytes());
                ByteBuffer tail = lease.bytes((1 << 20) - 10, 10);
                assertEquals(10, tail.remaining());
                assertEquals(6, tail.get(9), "the leased version's bytes");
                assertThrows(IndexOutOfBoundsException.class, () -> lease.bytes(1 << 20, 1));
            }
            assertEquals(1 << 20, memory.keptBytes(), "kept once the lease closed");
            memory.put("after", filled(1 << 20, (byte) 9));
            assertEquals(1, memory.reusedBuffers());
            assertThrows(NoSuchFileException.class, () -> memory.lease("chunk"));
        }
    }

    @Test
    void aReservationIsFilledInPlaceAndIsInvisibleUntilPut() throws IOException {
        try (BufferAllocator parent = new RootAllocator(AllocationListener.NOOP, 64L << 20, size -> size)) {
            MemoryObjectStore memory = new MemoryObjectStore(parent, 8L << 20);
            try (MemoryObjectStore.Reservation r = memory.reserve("replica/x", 1 << 20)) {
                ByteBuffer into = r.buffer();
                assertEquals(1 << 20, into.remaining());
                while (into.hasRemaining()) {
                    into.put((byte) 9);
                }
                assertThrows(NoSuchFileException.class, () -> memory.stat("replica/x"));
                r.put();
            }
            ByteBuffer back = ByteBuffer.allocate(1 << 20);
            assertEquals(1 << 20, memory.read("replica/x", 0, back));
            assertEquals(9, back.get((1 << 20) - 1));

            try (MemoryObjectStore.Reservation abandoned = memory.reserve("replica/y", 1 << 20)) {
                abandoned.buffer().put((byte) 1); // a connection broken mid-replica: never put
            }
            assertThrows(NoSuchFileException.class, () -> memory.stat("replica/y"));
            assertEquals(2 << 20, parent.getAllocatedMemory(), "the object and the kept room");
            assertEquals(1 << 20, memory.usedBytes(), "only the object counts as used");
            assertEquals(null, memory.reserve("replica/z", 8 << 20), "no room: refused before any byte is read");
            assertThrows(IOException.class, () -> memory.reserve("../bad", 1));

            memory.close();
            assertEquals(0, parent.getAllocatedMemory(), "kept memory is freed at close");
        }
    }

    @Test
    void aCreateOnlyReservationLeavesAnObjectAlreadyThereAndGivesItsRoomBack() throws IOException {
        try (BufferAllocator parent = new RootAllocator(AllocationListener.NOOP, 64L << 20, size -> size)) {
            MemoryObjectStore memory = new MemoryObjectStore(parent, 8L << 20);
            memory.put("chunks/k", filled(1_000, (byte) 1));
            try (MemoryObjectStore.Reservation r = memory.reserve("chunks/k", 3_000)) {
                r.buffer().put(new byte[3_000]);
                assertFalse(r.putIfAbsent(), "the key is held");
            }
            assertEquals(1_000, memory.stat("chunks/k").size(), "the object there is left as it was");
            assertEquals(1_000, memory.usedBytes(), "the reservation's room is not counted");
            try (MemoryObjectStore.Reservation r = memory.reserve("chunks/new", 2_000)) {
                r.buffer().put(new byte[2_000]);
                assertTrue(r.putIfAbsent());
                assertThrows(IllegalStateException.class, r::putIfAbsent, "put once");
            }
            assertEquals(2_000, memory.stat("chunks/new").size());
            memory.close();
            assertEquals(0, parent.getAllocatedMemory(), "nothing leaked");
        }
    }

    private static ByteBuffer filled(int size, byte value) {
        ByteBuffer b = ByteBuffer.allocateDirect(size);
        while (b.hasRemaining()) {
            b.put(value);
        }
        return b.flip();
    }

    @Test
    void aClosedStoreRefusesCalls() throws IOException {
        MemoryObjectStore memory = new MemoryObjectStore(1024);
        memory.close();
        memory.close();
        assertThrows(IOException.class, () -> memory.put("a", ByteBuffer.allocate(1)));
        assertThrows(IOException.class, () -> memory.read("a", 0, ByteBuffer.allocate(1)));
        assertThrows(IOException.class, () -> memory.list(""));
    }

    @Test
    void describeNamesTheTierAndItsLimit() throws IOException {
        try (MemoryObjectStore memory = new MemoryObjectStore(4096)) {
            assertEquals("memory (limit 4096 bytes)", memory.describe());
        }
    }

    @Test
    void aLimitMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new MemoryObjectStore(0));
    }
}
