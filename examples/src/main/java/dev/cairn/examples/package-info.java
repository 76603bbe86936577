/**
 * End-to-end examples of Cairn with a real framework. {@link dev.cairn.examples.ResumeScenario} trains an MLP in
 * child JVMs that checkpoint to memory, disk and S3 (an embedded S3-compatible server), kills one with SIGKILL
 * mid-run and resumes it from disk in a fresh process, then loses a node's memory and disk and resumes from S3, and
 * checks that each resumed run is bit-exact with an uninterrupted one. It backs the test suite and {@code cairn demo}.
 */
package dev.cairn.examples;
