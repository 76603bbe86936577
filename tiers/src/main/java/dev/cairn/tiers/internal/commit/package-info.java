/**
 * Commits: every chunk (its bytes durable when written, its name made durable by the commit, see
 * {@code ObjectStore#syncNames}), the confirmation in the store of the chunks the save relied on without putting them
 * ({@code ChunkConfirmation}), then the rank's index, then the MANIFEST by create-if-absent. The MANIFEST is the single
 * commit point, created only by {@link dev.cairn.tiers.internal.commit.CommitPoint} (which also resolves a create whose
 * answer was lost): a step exists for restore iff its MANIFEST does, so a process that dies anywhere before it leaves
 * only garbage, never a half checkpoint. {@link dev.cairn.tiers.internal.commit.CommitProtocol} commits one rank's part
 * ({@code RankCommit} with several ranks: without a coordinator, rank 0 puts commit notices after the MANIFEST, spread
 * over prefixes, each naming the digests of the MANIFEST and of its ranks' indexes ({@code CommitNotice}); a rank takes
 * a notice that names the index it put for the commit, and any other only as a sign to check the MANIFEST); each tier of a running checkpointer has one {@link dev.cairn.tiers.internal.commit.TierCommitter},
 * through which its save commits, the commits of steps promoted into it, and its retention and GC run
 * ({@code TierCommitters} holds them all and runs the API's {@code gc}). Before each MANIFEST the committer puts the step's
 * marks ({@code StepMarks}, one per 250 ranks, in prefixes of their own), by which a process finds the newest committed
 * step without listing the steps: {@code HighestCommitted} looks it up once per tier, from the open on, for the saves'
 * step check, and a restore of the newest step reads it the same way; {@code CommittedCheckpoints} is the API's
 * {@code list}. {@code NewestCommittedRows} starts each tier's chunk catalog from the rank's rows of the newest
 * committed step, instead of a listing of the chunks.
 */
package dev.cairn.tiers.internal.commit;
