package dev.cairn.examples.mlp;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The object-storage tier of a {@link TrainMain}: where it lives and how often it takes a step. Carries no
 * credentials: {@link TrainMain} takes them from the system properties {@code aws.accessKeyId} /
 * {@code aws.secretAccessKey}, else the environment variables {@code AWS_ACCESS_KEY_ID} /
 * {@code AWS_SECRET_ACCESS_KEY}, else the AWS SDK's default chain (profiles, instance roles).
 *
 * @param endpoint an S3-compatible server ({@code http://host:port}), or null for AWS S3
 * @param bucket   the bucket (must exist)
 * @param prefix   key prefix of the run's objects ("" for the whole bucket)
 * @param region   the region the requests are signed for
 * @param every    the tier takes steps divisible by this
 */
public record S3Target(URI endpoint, String bucket, String prefix, String region, long every) {
    public static final String DEFAULT_REGION = "us-east-1";

    public S3Target {
        Objects.requireNonNull(bucket, "bucket");
        prefix = prefix == null ? "" : prefix;
        region = region == null ? DEFAULT_REGION : region;
        if (every < 1) {
            throw new IllegalArgumentException("--s3-every must be at least 1, was " + every);
        }
    }

    /** The arguments of {@link TrainArgs#parse} that name this target. */
    List<String> toArgs() {
        List<String> out = new ArrayList<>();
        if (endpoint != null) {
            out.addAll(List.of("--s3-endpoint", endpoint.toString()));
        }
        out.addAll(List.of("--s3-bucket", bucket, "--s3-prefix", prefix, "--s3-region", region,
                "--s3-every", Long.toString(every)));
        return out;
    }

    /** {@code s3://bucket/prefix (endpoint URL)}: never credentials. */
    public String describe() {
        String p = prefix.isEmpty() || prefix.endsWith("/") ? prefix : prefix + "/";
        return "s3://" + bucket + "/" + p + (endpoint == null ? "" : " (endpoint " + endpoint + ")");
    }
}
