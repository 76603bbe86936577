/**
 * End-to-end examples of Cairn with a real framework. {@link dev.cairn.examples.ResumeScenario} trains an MLP in
 * child JVMs, kills one with SIGKILL mid-run, resumes it from disk in a fresh process, and checks that the resumed
 * run is bit-exact with an uninterrupted one. It backs the test suite and {@code cairn demo}.
 */
package dev.cairn.examples;
