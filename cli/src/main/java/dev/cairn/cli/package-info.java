/**
 * The {@code cairn} command line: {@link dev.cairn.cli.CairnCli} parses the arguments (picocli), hands the work to
 * one class per command in {@code dev.cairn.cli.command}, and turns any failure into one line and an exit status
 * ({@link dev.cairn.cli.FailureReport}). {@code dev.cairn.cli.report} builds the HTML page of {@code cairn report}.
 */
package dev.cairn.cli;
