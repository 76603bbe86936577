package dev.cairn.backend.s3;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.ObjectKeys;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;

/**
 * Where an {@link S3ObjectStore} lives and how it talks to it: immutable, built by {@link #builder(String)} or
 * {@link #fromUri(String)}. Defaults suit AWS S3; for an S3-compatible server set {@link Builder#endpoint}.
 *
 * <p>Credentials come from the AWS SDK's default provider chain (environment variables, system properties, the
 * shared profile files, then the container and instance roles) unless given. {@link #toString} never shows a
 * secret. A value or URI that cannot be used fails at once with {@link CheckpointException} (INVALID_CONFIG), naming it.
 */
public final class S3StoreConfig {

    /** S3 refuses parts below this size, except the last. */
    public static final long MIN_PART_SIZE = 5L << 20;
    /** S3 refuses parts above this size. */
    public static final long MAX_PART_SIZE = 5L << 30;
    /** S3's limit on the number of parts of one upload. */
    static final int MAX_PARTS = 10_000;

    static final long DEFAULT_PART_SIZE = 8L << 20;
    static final int DEFAULT_UPLOAD_CONCURRENCY = 8;
    /** The engine's deadline ({@link CairnConfig#DEFAULT_DEADLINE}): one store call may take as long as one save. */
    static final Duration DEFAULT_DEADLINE = CairnConfig.DEFAULT_DEADLINE;
    static final Duration DEFAULT_ATTEMPT_TIMEOUT = Duration.ofSeconds(30);
    static final int DEFAULT_MAX_ATTEMPTS = 6;
    static final Duration DEFAULT_BASE_BACKOFF = Duration.ofMillis(50);
    static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(5);
    /** Used when neither the config nor the SDK's default region chain names one; S3-compatible servers ignore it. */
    static final String FALLBACK_REGION = "us-east-1";

    private final String bucket;
    private final String prefix;
    private final String region;
    private final URI endpoint;
    private final boolean pathStyle;
    private final AwsCredentialsProvider credentials;
    private final long partSize;
    private final int uploadConcurrency;
    private final Duration deadline;
    private final Duration attemptTimeout;
    private final int maxAttempts;
    private final Duration baseBackoff;
    private final Duration maxBackoff;
    private final List<ExecutionInterceptor> interceptors;

    private S3StoreConfig(Builder b) {
        this.bucket = b.bucket;
        this.prefix = b.prefix;
        this.region = b.region;
        this.endpoint = b.endpoint;
        this.pathStyle = b.pathStyle != null ? b.pathStyle : b.endpoint != null;
        this.credentials = b.credentials;
        this.partSize = b.partSize;
        this.uploadConcurrency = b.uploadConcurrency;
        this.deadline = b.deadline;
        this.attemptTimeout = b.attemptTimeout.compareTo(b.deadline) < 0 ? b.attemptTimeout : b.deadline;
        this.maxAttempts = b.maxAttempts;
        this.baseBackoff = b.baseBackoff;
        this.maxBackoff = b.maxBackoff;
        this.interceptors = List.copyOf(b.interceptors);
    }

    /** A builder for a store in {@code bucket}, with every other setting at its default. */
    public static Builder builder(String bucket) {
        return new Builder(bucket);
    }

    /**
     * A builder from a store URI {@code s3://bucket} or {@code s3://bucket/prefix}, as used in configuration and on
     * the command line. The URI carries no credentials: a user-info part is refused so that a secret pasted into it
     * is never echoed.
     */
    public static Builder fromUri(String uri) {
        Objects.requireNonNull(uri, "uri");
        URI parsed;
        try {
            parsed = new URI(uri);
        } catch (java.net.URISyntaxException e) {
            throw invalid("not an s3:// URI (" + e.getReason() + ")");
        }
        if (!"s3".equalsIgnoreCase(parsed.getScheme())) {
            throw invalid("not an s3:// URI: scheme " + parsed.getScheme());
        }
        if (parsed.getRawUserInfo() != null) {
            throw invalid("an s3:// URI must not carry credentials; use the environment or a profile");
        }
        if (parsed.getRawQuery() != null || parsed.getRawFragment() != null) {
            throw invalid("an s3:// URI has no query or fragment: s3://bucket/prefix");
        }
        String bucket = parsed.getHost() != null ? parsed.getHost() : parsed.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw invalid("an s3:// URI names a bucket: s3://bucket/prefix");
        }
        String path = parsed.getPath() == null ? "" : parsed.getPath();
        return builder(bucket).prefix(path.startsWith("/") ? path.substring(1) : path);
    }

    /** The bucket. */
    public String bucket() {
        return bucket;
    }

    /** The key prefix every object of this store lives under: empty, or ending in '/'. */
    public String prefix() {
        return prefix;
    }

    /** The region, or null to take the SDK's default region chain (falling back to us-east-1). */
    public String region() {
        return region;
    }

    /** The endpoint of an S3-compatible server, or null for AWS S3. */
    public URI endpoint() {
        return endpoint;
    }

    /** Whether requests address the bucket in the path rather than in the host name. */
    public boolean pathStyle() {
        return pathStyle;
    }

    /** Where credentials come from; never printed. */
    public AwsCredentialsProvider credentials() {
        return credentials;
    }

    /** Objects of this size and more are uploaded in parts of this size. */
    public long partSize() {
        return partSize;
    }

    /** How many parts of one object are in flight at once. */
    public int uploadConcurrency() {
        return uploadConcurrency;
    }

    /** How long one call of the store may take, retries included; it then fails with a timeout. */
    public Duration deadline() {
        return deadline;
    }

    /** How long one HTTP attempt may take before it is abandoned and retried (never beyond the deadline). */
    public Duration attemptTimeout() {
        return attemptTimeout;
    }

    /**
     * Attempts per request, the first included, that failed otherwise than by throttling: attempts refused with 503
     * SlowDown or 429 are retried until the {@linkplain #deadline() deadline} ({@code Retrier}).
     */
    public int maxAttempts() {
        return maxAttempts;
    }

    /** Backoff before retry n is uniform in [0, min(maxBackoff, baseBackoff * 2^(n-1))] (full jitter). */
    public Duration baseBackoff() {
        return baseBackoff;
    }

    /** The cap on one backoff. */
    public Duration maxBackoff() {
        return maxBackoff;
    }

    List<ExecutionInterceptor> interceptors() {
        return interceptors;
    }

    /**
     * {@code s3://bucket/prefix} on the endpoint spelled one way (scheme and host in lower case, no default port, no
     * trailing slash; the SDK's default endpoint when there is none): two configurations with equal locations name the
     * same objects. Never credentials.
     */
    public String location() {
        String at = "the SDK's default endpoint";
        if (endpoint != null) {
            String scheme = endpoint.getScheme() == null ? "" : endpoint.getScheme().toLowerCase(java.util.Locale.ROOT);
            String host = endpoint.getHost() == null ? String.valueOf(endpoint.getAuthority())
                    : endpoint.getHost().toLowerCase(java.util.Locale.ROOT);
            int port = endpoint.getPort();
            boolean defaultPort = port == -1 || (port == 80 && scheme.equals("http")) || (port == 443 && scheme.equals("https"));
            String path = endpoint.getPath() == null ? "" : endpoint.getPath().replaceAll("/+$", "");
            at = scheme + "://" + host + (defaultPort ? "" : ":" + port) + path;
        }
        return "s3://" + bucket + "/" + prefix + " at " + at;
    }

    /** {@code s3://bucket/prefix}, and the endpoint when there is one: never credentials. */
    public String describe() {
        return "s3://" + bucket + "/" + prefix + (endpoint == null ? "" : " (endpoint " + endpoint + ")");
    }

    @Override
    public String toString() {
        return "S3StoreConfig[" + describe() + ", region " + (region == null ? "default" : region)
                + (pathStyle ? ", path-style" : "") + ", credentials " + (credentials == null ? "default chain" : "given")
                + ", part size " + partSize + ", upload concurrency " + uploadConcurrency + ", deadline " + deadline
                + ", attempt timeout " + attemptTimeout + ", attempts " + maxAttempts + ", backoff " + baseBackoff
                + ".." + maxBackoff + "]";
    }

    /** Builds an {@link S3StoreConfig}; each setter checks its value at once. */
    public static final class Builder {
        private final String bucket;
        private String prefix = "";
        private String region;
        private URI endpoint;
        private Boolean pathStyle;
        private AwsCredentialsProvider credentials;
        private long partSize = DEFAULT_PART_SIZE;
        private int uploadConcurrency = DEFAULT_UPLOAD_CONCURRENCY;
        private Duration deadline = DEFAULT_DEADLINE;
        private Duration attemptTimeout = DEFAULT_ATTEMPT_TIMEOUT;
        private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
        private Duration baseBackoff = DEFAULT_BASE_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private final List<ExecutionInterceptor> interceptors = new ArrayList<>();

        private Builder(String bucket) {
            Objects.requireNonNull(bucket, "bucket");
            // S3's rules: 3-63 characters of lower-case letters, digits, '.' and '-', starting and ending alphanumeric.
            if (!bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
                throw invalid("invalid bucket name '" + bucket + "'");
            }
            this.bucket = bucket;
        }

        /** Keys of the store live under this prefix ("" for the whole bucket); a trailing '/' is added. */
        public Builder prefix(String prefix) {
            Objects.requireNonNull(prefix, "prefix");
            String trimmed = prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
            String problem = trimmed.isEmpty() ? null : ObjectKeys.problem(trimmed);
            if (problem != null) {
                throw invalid("invalid prefix '" + ObjectKeys.printable(prefix) + "': " + problem);
            }
            this.prefix = trimmed.isEmpty() ? "" : trimmed + "/";
            return this;
        }

        /** The region, such as {@code eu-west-1}. */
        public Builder region(String region) {
            Objects.requireNonNull(region, "region");
            if (!region.matches("[a-z0-9-]+")) {
                throw invalid("invalid region '" + region + "'");
            }
            this.region = region;
            return this;
        }

        /** The endpoint of an S3-compatible server ({@code http://host:port}); turns on path-style unless set. */
        public Builder endpoint(URI endpoint) {
            Objects.requireNonNull(endpoint, "endpoint");
            if (endpoint.getScheme() == null || !endpoint.getScheme().matches("(?i)https?") || endpoint.getHost() == null) {
                throw invalid("an endpoint is http:// or https:// with a host");
            }
            if (endpoint.getRawUserInfo() != null) {
                throw invalid("an endpoint must not carry credentials");
            }
            this.endpoint = endpoint;
            return this;
        }

        /** Whether to address the bucket in the path ({@code host/bucket/key}); S3-compatible servers need it. */
        public Builder pathStyle(boolean pathStyle) {
            this.pathStyle = pathStyle;
            return this;
        }

        /** Static credentials instead of the SDK's default chain. */
        public Builder credentials(String accessKeyId, String secretAccessKey) {
            Objects.requireNonNull(accessKeyId, "accessKeyId");
            Objects.requireNonNull(secretAccessKey, "secretAccessKey");
            this.credentials = StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKeyId, secretAccessKey));
            return this;
        }

        /** A credentials provider instead of the SDK's default chain. */
        public Builder credentials(AwsCredentialsProvider provider) {
            this.credentials = Objects.requireNonNull(provider, "provider");
            return this;
        }

        /** Size of each part of a multipart upload, and the size from which an object is uploaded in parts. */
        public Builder partSize(long bytes) {
            if (bytes < MIN_PART_SIZE || bytes > MAX_PART_SIZE) {
                throw invalid("part size must be between 5 MiB and 5 GiB: " + bytes);
            }
            this.partSize = bytes;
            return this;
        }

        /** Parts of one object in flight at once. */
        public Builder uploadConcurrency(int parts) {
            if (parts < 1 || parts > 1024) {
                throw invalid("upload concurrency must be between 1 and 1024: " + parts);
            }
            this.uploadConcurrency = parts;
            return this;
        }

        /** How long one call may take, retries included. */
        public Builder deadline(Duration deadline) {
            this.deadline = positive(deadline, "deadline");
            return this;
        }

        /** How long one HTTP attempt may take before it is retried; capped at the deadline. */
        public Builder attemptTimeout(Duration timeout) {
            this.attemptTimeout = positive(timeout, "attempt timeout");
            return this;
        }

        /**
         * Retries of other 5xx, connection resets and timeouts: at most {@code maxAttempts} attempts, with full-jitter
         * exponential backoff from {@code base} up to {@code max}. Throttling (503 SlowDown, 429) is retried with the
         * same backoff until the deadline, whatever {@code maxAttempts} is.
         */
        public Builder retries(int maxAttempts, Duration base, Duration max) {
            if (maxAttempts < 1 || maxAttempts > 100) {
                throw invalid("max attempts must be between 1 and 100: " + maxAttempts);
            }
            positive(base, "base backoff");
            positive(max, "max backoff");
            if (max.compareTo(base) < 0) {
                throw invalid("max backoff " + max + " is below base backoff " + base);
            }
            this.maxAttempts = maxAttempts;
            this.baseBackoff = base;
            this.maxBackoff = max;
            return this;
        }

        /** Test hook: an SDK interceptor on every request. */
        Builder interceptor(ExecutionInterceptor interceptor) {
            interceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
            return this;
        }

        /** The config. */
        public S3StoreConfig build() {
            return new S3StoreConfig(this);
        }

        private static Duration positive(Duration value, String what) {
            Objects.requireNonNull(value, what);
            if (value.isNegative() || value.isZero()) {
                throw invalid(what + " must be positive: " + value);
            }
            return value;
        }
    }

    /** The failure of a setting that cannot be used. */
    static CheckpointException invalid(String message) {
        return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
    }
}
