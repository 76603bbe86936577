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
 * {@code putIfAbsent}).
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

    @Override
    public void delete(String key) throws IOException {
        delegate.delete(key);
    }

    @Override
    public boolean inMemory() {
        return delegate.inMemory();
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
}
