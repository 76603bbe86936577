/**
 * Commits: every chunk (its bytes durable when written, its name made durable by the commit, see
 * {@code ObjectStore#syncNames}), the confirmation in the store of the chunks the save relied on without putting them
 * ({@code ChunkConfirmation}), then the rank's index, then the MANIFEST by create-if-absent. The MANIFEST is the single
 * commit point, created only by {@link dev.cairn.tiers.internal.commit.CommitPoint} (which also resolves a create whose
 * answer was lost): a step exists for restore iff its MANIFEST does, so a process that dies anywhere before it leaves
 * only garbage, never a half checkpoint. {@link dev.cairn.tiers.internal.commit.CommitProtocol} commits one rank's part
 * ({@code RankCommit} with several ranks: without a coordinator, rank 0 puts commit notices after the MANIFEST, spread
 * over prefixes, which tell the other ranks when to check the MANIFEST; a rank takes the MANIFEST, never a notice, for
 * the commit); each tier of a running checkpointer has one {@link dev.cairn.tiers.internal.commit.TierCommitter},
 * through which its save commits, the commits of steps promoted into it, and its retention and GC run
 * ({@code TierCommitters} holds them all and runs the API's {@code gc}). {@code HighestCommitted} lists each tier's
 * newest committed step once, from the open on, for the saves' step check; {@code CommittedCheckpoints} is the API's
 * {@code list}.
 */
package dev.cairn.tiers.internal.commit;
