package dev.cairn.tiers.internal.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
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
}
