/**
 * The only package that links Micrometer: {@link dev.cairn.tiers.internal.observe.micrometer.MicrometerMetrics}, loaded
 * by name from {@code observe.Telemetry} when the configuration carries a meter registry.
 */
package dev.cairn.tiers.internal.observe.micrometer;
