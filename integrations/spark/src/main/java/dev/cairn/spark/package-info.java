/**
 * Cairn on Apache Spark: {@link dev.cairn.spark.SparkBarrierCoordinator}, a {@link dev.cairn.Coordinator} on Spark's
 * barrier execution mode, so that the tasks of a barrier stage are the ranks of a multi-rank checkpoint, meet through
 * Spark instead of polling the store, and a whole-stage retry never commits a mixture of two attempts. Spark is a
 * provided dependency: jobs run on the cluster's own.
 */
package dev.cairn.spark;
