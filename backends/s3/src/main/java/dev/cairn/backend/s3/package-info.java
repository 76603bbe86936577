/**
 * The object storage tier: AWS S3 or any S3-compatible server, through the AWS SDK v2 asynchronous client.
 * Parallel multipart upload from the caller's buffers, ranged GETs for restore, {@code If-None-Match: *} for the
 * manifest commit, and retries with full-jitter backoff inside a deadline on every call. Depends on the API and
 * the AWS SDK only.
 */
package dev.cairn.backend.s3;
