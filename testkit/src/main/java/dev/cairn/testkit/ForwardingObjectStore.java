package dev.cairn.testkit;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * An {@link ObjectStore} that passes every call to another; tests override the calls they want to break or watch.
 * {@link #putSyncingNameLater}, {@link #putIfAbsentSyncingNameLater} and {@link #syncNames} are not passed on: their
 * defaults send every write through {@link #put} or {@link #putIfAbsent} (durable at once), so that a test overriding
 * those two sees and breaks every write (a save's chunks it does not know to be stored are created with
 * {@code putIfAbsent}). {@link #listFolders} is passed on: a test that watches or breaks listings overrides it beside
 * {@link #list}. {@link #listWhole} is not: its default is {@link #list}, so a test that breaks {@code list} breaks
 * garbage collection's listings too. {@link #deleteAbandonedWrites} is passed on.
 */
public abstract class ForwardingObjectStore implements ObjectStore {
    protected final ObjectStore delegate;

    protected ForwardingObjectStore(ObjectStore delegate) {
        this.delegate = delegate;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        delegate.put(key, data);
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        return delegate.putIfAbsent(key, data);
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        return delegate.read(key, offset, dst);
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        return delegate.stat(key);
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        return delegate.list(prefix);
    }

    /**
     * Passed on, unlike the writes above: a wrapper that fell back to the default would list every key under the prefix
     * (a page per 1,000 keys of S3 or of a simulated store) where the store answers with its folders. A test that
     * watches or breaks listings overrides this too.
     */
    @Override
    public List<String> listFolders(String prefix) throws IOException {
        return delegate.listFolders(prefix);
    }

    @Override
    public void delete(String key) throws IOException {
        delegate.delete(key);
    }

    @Override
    public boolean inMemory() {
        return delegate.inMemory();
    }

    @Override
    public boolean listsMayBePartial() {
        return delegate.listsMayBePartial();
    }

    @Override
    public String location() {
        return delegate.location();
    }

    @Override
    public java.util.Optional<dev.cairn.Coordinator> coordinator() {
        return delegate.coordinator();
    }

    @Override
    public java.util.Map<String, Long> counters() {
        return delegate.counters();
    }

    @Override
    public java.util.Map<String, Long> gauges() {
        return delegate.gauges();
    }

    @Override
    public String describe() {
        return delegate.describe();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }

    @Override
    public int deleteAbandonedWrites(String prefix, java.time.Duration olderThan) throws IOException {
        return delegate.deleteAbandonedWrites(prefix, olderThan);
    }
}
