package dev.cairn.tiers.internal.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.SegmentRoundingPolicy;
import org.junit.jupiter.api.Test;

/** A slab has one holder at a time: released once per hand-out, freed with the pool, never leaked. */
class SlabPoolTest {

    @Test
    void releasingASlabTwiceFailsAndDoesNotHandItToTwoHolders() {
        try (BufferAllocator allocator = new RootAllocator(1 << 20); SlabPool pool = new SlabPool(allocator, 1024, 2)) {
            Slab slab = pool.acquire(0);
            slab.release();
            assertThrows(IllegalStateException.class, slab::release);
            assertEquals(0, pool.inUse());
            Slab first = pool.acquire(0);
            Slab second = pool.acquire(0);
            assertNotSame(first, second, "the slab released twice went into the free list once");
            first.release();
            second.release();
        }
    }

    @Test
    void aSlabReleasedTwiceAfterThePoolClosedFailsToo() {
        try (BufferAllocator allocator = new RootAllocator(1 << 20)) {
            SlabPool pool = new SlabPool(allocator, 1024, 1);
            Slab slab = pool.tryAcquire();
            pool.close();
            slab.release(); // freed now: the pool is closed
            assertThrows(IllegalStateException.class, slab::release);
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void slabsOfAnAlignedPoolStartOnTheAlignmentAndHoldExactlyTheirBytesWithinTheLimit() {
        int slabBytes = 5000;
        int alignment = 4096;
        long each = (SlabPool.allocationBytes(slabBytes, alignment) + 1023) & ~1023; // staging's rounding, as CairnCheckpointer's
        try (BufferAllocator allocator = new RootAllocator(AllocationListener.NOOP, 3 * each, new SegmentRoundingPolicy(1024));
             SlabPool pool = new SlabPool(allocator, slabBytes, 3, alignment)) {
            Slab[] slabs = {pool.acquire(0), pool.acquire(0), pool.acquire(0)};
            for (Slab s : slabs) {
                assertEquals(0, s.buffer().alignmentOffset(0, alignment), "a slab starts on the alignment");
                assertEquals(slabBytes, s.capacity());
                assertEquals(slabBytes, s.buffer().limit());
                s.buffer().put(slabBytes - 1, (byte) 7); // its last byte is its own
            }
            assertEquals(3 * each, allocator.getAllocatedMemory(), "what the staging limit counts is allocationBytes");
            for (Slab s : slabs) {
                s.release();
            }
        }
    }

    @Test
    void anAlignmentThatIsNoPowerOfTwoIsRefused() {
        try (BufferAllocator allocator = new RootAllocator(1 << 20)) {
            assertThrows(IllegalArgumentException.class, () -> new SlabPool(allocator, 1024, 1, 3000));
        }
    }
}
