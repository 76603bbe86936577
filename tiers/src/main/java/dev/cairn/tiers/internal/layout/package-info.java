/** Where things live in a store: the one place that knows the key layout shared by every tier. */
package dev.cairn.tiers.internal.layout;
