/**
 * {@code cairn report}: reads the engine's Flight Recorder events from a recording ({@link
 * dev.cairn.cli.report.RunRecording}), sums them up per tier with a Young/Daly checkpoint interval ({@link
 * dev.cairn.cli.report.TierSummary}), and writes one self-contained HTML page with inline SVG plots ({@link
 * dev.cairn.cli.report.ReportPage}). Events are read by name, so the command line needs the engine only at run time.
 */
package dev.cairn.cli.report;
