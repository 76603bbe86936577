/**
 * Cairn's engine, behind the two entry points of {@code dev.cairn}: {@link dev.cairn.tiers.CairnCheckpointerProvider}
 * gives {@link dev.cairn.Checkpointer#open} a {@link dev.cairn.tiers.CairnCheckpointer}, which only wires the parts
 * over the configured tiers and delegates to them: save admission ({@code internal.save}), the save pipeline, each
 * tier's commit owner, promotion, retention and GC, restore, and close ({@code internal.lifecycle}); and gives
 * {@link dev.cairn.CheckpointAdmin#open} a {@code CairnAdmin}, which sees stores from outside a run through the same
 * classes. Those live in {@code dev.cairn.tiers.internal}: not API. Applications and tools use only {@code dev.cairn};
 * the benchmarks measure the codec and hash kernels through {@link dev.cairn.tiers.Kernels}.
 *
 * <h2>Why no {@code module-info.java}</h2>
 * The boundary is kept by convention (and by a grep in review), not by the compiler. Tried on 2026-12-06 with a
 * module-info for {@code api} and {@code tiers}: it compiles, but surefire then runs the tests on the module path,
 * where Arrow is the named module {@code org.apache.arrow.memory.core} and needs
 * {@code --add-opens=java.base/java.nio=org.apache.arrow.memory.core} instead of the {@code ALL-UNNAMED} that the
 * launchers, the README and the engine's own INVALID_CONFIG message give (every memory-tier test failed); the tests
 * that start a child JVM from {@code java.class.path} lost {@code api} and {@code tiers} (NoClassDefFoundError); and
 * {@code zero-allocation-hashing} and Arrow's {@code flatbuffers-java} are filename-based automatic modules. Above
 * all, it would enforce nothing where it matters: the command line, the benchmarks, the examples, DJL and Spark all
 * run on the class path, where a module's exports are ignored; enforcing it there would take module-infos in every
 * module and module-path launchers beside Spark's and the AWS SDK's own jars.
 *
 * <h2>The data path of a save</h2>
 * The threads a chunk crosses from {@code save()} to each tier's commit (a step to a memory tier, promoted to disk):
 * <pre>
 *  caller             cairn-feeder (1)        cairn-ring-k (N)       cairn-io-mem-* (4)        cairn-io-disk-* (4)
 *  ------             ----------------        ----------------       ------------------        -------------------
 *  save(step,state)
 *   SaveAdmission:
 *   checks, busy policy
 *   SavePlan: chunks,
 *   lossy check
 *   copy into staging
 *   (the stall)  --1--> load the tier's
 *  returns             catalog (once), take
 *                      an output slab; for a
 *                      delta candidate: hash,
 *                      and if it changed read
 *                      the delta base  --2--> hash (unless done),
 *                                             dedup against
 *                                             the catalog, encode
 *                                             (XOR delta or zstd;
 *                                             raw: a copy, or none
 *                                             into memory) --3--> put the chunk
 *                                                                        ...last chunk:
 *                                                                        TierCommitter: index,
 *                                                                        confirm chunks,
 *                                                                        MANIFEST (CommitPoint),
 *                                                                        retention + GC  --5--> copy each chunk
 *                                                                                               ...last copy:
 *                                                                                               TierCommitter: index,
 *                                                                                               MANIFEST, retention
 * </pre>
 * Why each hand-off exists:
 * <ol>
 *   <li>caller to feeder, a queue of chunk runs: {@code save()} returns once the state is copied (or at once, in
 *       zero-copy mode); the caller never waits on the ring or on a store, only on full staging.</li>
 *   <li>feeder to encoders, the Disruptor ring: hashing and encoding are the CPU-bound part and run on N threads
 *       ({@code sequence % N == k}). Everything a chunk needs from outside memory (the catalog, whose first load reads
 *       the rank's rows of the newest committed step; an output slab, waited for while writes lag; the previous version's base, read from the tier) is
 *       fetched by the feeder before the chunk enters, so the ring's handlers only compute. The base is read only for a
 *       chunk that changed: the feeder hashes a chunk that may be stored as a difference and compares it with the
 *       previous version's hash first (an unchanged chunk is stored without a base), and hands the hash on.</li>
 *   <li>encoder to the first tier's I/O threads: store writes are slow and overlap; the ring moves on. The tier's
 *       commit runs on the thread of the last write, with no further hand-off (or is handed to that tier's I/O
 *       threads when the last chunk needed no write, to keep store calls off the ring).</li>
 *   <li>(multi-rank runs) I/O thread to a {@code cairn-rank-commit} thread: such a commit waits for the other ranks
 *       and must not hold an I/O thread whose writes they may be waiting for; rank 0's retention and GC then run on
 *       {@code cairn-gc}, off the commit path.</li>
 *   <li>first tier's commit to the slower tier's I/O threads: promotion copies in parallel on the target's threads,
 *       and the target's commit must not run under the source's commit lock; it runs on the last copy's thread (a
 *       {@code cairn-rank-commit} thread in a multi-rank run).</li>
 * </ol>
 * Every commit, promotion commit and collection of a tier runs through its one
 * {@link dev.cairn.tiers.internal.commit.TierCommitter}, under the tier's commit lock.
 */
package dev.cairn.tiers;
