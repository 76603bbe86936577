/**
 * What the engine tells the outside about its work: JDK Flight Recorder events (category {@code cairn}, always
 * available, cheap while no recording asks for them) and, when a registry is configured and Micrometer is on the
 * classpath, Micrometer meters. The engine calls one facade, {@link dev.cairn.tiers.internal.observe.Telemetry}, at
 * the end of a save call, a restore and a collection; commits and promotions are observed through the save's
 * per-tier futures. Every Micrometer type lives in {@code observe.micrometer}, which is loaded by name only when a
 * registry is configured, so the engine runs without Micrometer.
 */
package dev.cairn.tiers.internal.observe;
