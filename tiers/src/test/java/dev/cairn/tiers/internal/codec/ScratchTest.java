package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import java.nio.ByteBuffer;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.Test;

/** Scratch memory has an owner that frees it, and a leak fails the owner's close. */
class ScratchTest {

    @Test
    void buffersGrowUnderTheirScratchAndAreFreedWithIt() {
        try (BufferAllocator root = Scratch.newRoot()) {
            Scratch scratch = new Scratch(root, "test");
            Scratch.Buffer a = scratch.buffer();
            ByteBuffer small = a.atLeast(10);
            assertTrue(small.isDirect() && small.capacity() >= 10 && small.position() == 0 && small.limit() == small.capacity());
            ByteBuffer big = a.atLeast(5000);
            assertTrue(big.capacity() >= 5000);
            assertEquals(big.capacity(), a.atLeast(100).capacity(), "a buffer never shrinks");
            scratch.buffer().atLeast(2000);
            assertTrue(root.getAllocatedMemory() >= 7000, "counted in the owner's allocator");
            scratch.close();
            assertEquals(0, root.getAllocatedMemory());
            assertThrows(IllegalStateException.class, scratch::buffer);
        }
    }

    @Test
    void aScratchNeverClosedFailsItsOwnersClose() {
        BufferAllocator root = Scratch.newRoot();
        Scratch scratch = new Scratch(root, "forgotten");
        scratch.buffer().atLeast(1024);
        IllegalStateException leak = assertThrows(IllegalStateException.class, root::close, "Arrow's leak check");
        assertTrue(leak.getMessage().contains("forgotten"), leak.getMessage());
    }

    @Test
    void aStandaloneCodecFreesItsOwnScratch() throws Exception {
        ChunkCodec codec = new ChunkCodec(1);
        ByteBuffer raw = ByteBuffer.allocateDirect(1 << 16);
        ByteBuffer out = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(raw.capacity()));
        codec.encodeChoosing(raw, 0, raw.capacity(), 4, out, new ChunkCodec.Encoded());
        codec.close(); // closes its own root, which would throw on a leak
    }

    @Test
    void aWorkspaceGivenBackAfterThePoolClosedIsClosedThenAndNotBefore() {
        int[] closed = {0};
        ScratchPool<int[]> pool = new ScratchPool<>("test", () -> new int[1], w -> closed[0]++);
        int[] a = pool.borrow();
        int[] b = pool.borrow();
        pool.giveBack(b);
        assertEquals(1, pool.inUse());
        pool.close();
        assertEquals(1, closed[0], "the idle one");
        pool.giveBack(a);
        assertEquals(2, closed[0], "the borrowed one, once given back");
        assertEquals(0, pool.inUse());
        CheckpointException e = assertThrows(CheckpointException.class, pool::borrow);
        assertEquals(CheckpointException.Reason.CLOSED, e.reason());
    }
}
