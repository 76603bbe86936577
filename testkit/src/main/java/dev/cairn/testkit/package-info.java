/**
 * Shared tests for Cairn's plug-in points. Each SPI has one contract suite here and every implementation's
 * test extends it, so a new backend proves itself against the same rules the engine relies on. Main-scope
 * code depending on JUnit, used by other modules at test scope only.
 */
package dev.cairn.testkit;
