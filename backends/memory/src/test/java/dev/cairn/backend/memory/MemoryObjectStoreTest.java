package dev.cairn.backend.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
