package dev.cairn.backend.s3;

import dev.cairn.ObjectStore;
import dev.cairn.ObjectStoreProvider;
import dev.cairn.ObjectStores;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.Set;

/**
 * Opens {@code s3://bucket/prefix} locations; settings {@link ObjectStores#S3_ENDPOINT} (an S3-compatible server,
 * path-style) and {@link ObjectStores#S3_REGION}. Credentials come from the AWS SDK's default chain.
 */
public final class S3StoreProvider implements ObjectStoreProvider {
    @Override
    public Set<String> schemes() {
        return Set.of("s3");
    }

    @Override
    public ObjectStore open(URI location, Map<String, String> settings) throws IOException {
        S3StoreConfig.Builder b = S3StoreConfig.fromUri(location.toString());
        String endpoint = settings.get(ObjectStores.S3_ENDPOINT);
        if (endpoint != null) {
            URI uri;
            try {
                uri = new URI(endpoint);
            } catch (java.net.URISyntaxException e) {
                throw S3StoreConfig.invalid("setting " + ObjectStores.S3_ENDPOINT + " is not a URL (" + e.getReason() + ")");
            }
            b.endpoint(uri);
        }
        String region = settings.get(ObjectStores.S3_REGION);
        if (region != null) {
            b.region(region);
        }
        return new S3ObjectStore(b.build());
    }
}
