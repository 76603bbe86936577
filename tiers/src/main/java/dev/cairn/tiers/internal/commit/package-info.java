/**
 * The commit protocol: every chunk, then the rank's index, then the MANIFEST by create-if-absent. The MANIFEST is
 * the single commit point: a step exists for restore iff its MANIFEST does, so a process that dies anywhere before
 * it leaves only garbage, never a half checkpoint.
 */
package dev.cairn.tiers.internal.commit;
