package dev.cairn.backend.fs;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.UnusableObjectException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link ObjectStore} on a local or shared file system: each key is a file under a root directory.
 *
 * <p>Every write goes to a temporary file beside its target ({@code .tmp-} and a random suffix), is forced to
 * disk, and only then becomes visible in one step: a rename for {@link #put}, a hard link for
 * {@link #putIfAbsent} (which fails if the target exists, so exactly one creator wins, across processes too).
 * The directory is forced after that step so that the name survives a power cut; for {@link #putSyncingNameLater}
 * (a checkpoint's chunks) that force is left to {@link #syncNames}, once per directory for all the names added to it,
 * before the commit that names them. A process killed mid-write leaves at most a temporary file, never a partial
 * object; {@link #deleteStaleTemporaries} removes those.
 *
 * <p>Because keys are paths, a key cannot also be a prefix directory of another key ("a" and "a/b"); Cairn's
 * layout never needs that. Deletes are not forced to disk: a crash may bring back a deleted object, which
 * garbage collection then deletes again.
 */
public final class FileSystemObjectStore implements ObjectStore {

    /**
     * Heap buffers go to the channel in slices of this size: the JDK copies heap bytes through a per-thread
     * direct buffer as large as each write, and would otherwise keep one as large as the largest object.
     */
    private static final int HEAP_SLICE = 1 << 20;

    /** How often a write retries when a concurrent delete removes its freshly created parent directory. */
    private static final int PARENT_RACE_RETRIES = 64;

    private final Path root;
    /** {@link #root} with every link resolved: what a directory holding an object must lie under. */
    private final Path realRoot;
    private volatile boolean closed;
    /**
     * Per directory, how many names {@link #putSyncingNameLater} has added to it, and the count up to which a force of
     * the directory has made them durable ({@link #syncNames}). Bounded by the directories the store holds.
     */
    private final ConcurrentHashMap<Path, AtomicLong> namesAdded = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Path, Long> namesForced = new ConcurrentHashMap<>();
    /** Directory forces of {@link #syncNames}: made on first use, stopped by {@link #close}. */
    private ExecutorService syncThreads;
    private static final int SYNC_THREADS = 8;

    /** Writes of large objects that bypass the page cache, where the file system takes them. */
    private final DirectWrites direct;

    /**
     * A store rooted at {@code root}, which is created if missing, writing objects of 256 KiB and more past the page
     * cache ({@code O_DIRECT}) where the file system takes that: see {@link #FileSystemObjectStore(Path, boolean)}.
     */
    public FileSystemObjectStore(Path root) throws IOException {
        this(root, true);
    }

    /**
     * A store rooted at {@code root}, which is created if missing.
     *
     * @param directWrites true (the default): objects of 256 KiB and more (a checkpoint's chunks) are written past the
     *                     page cache ({@code O_DIRECT}), which saves the CPU of copying them into it and leaves the cache
     *                     to training's data; a file system that does not take direct writes (found by writing one block
     *                     under {@code root} at the first such write) gets buffered writes. false: every write is
     *                     buffered, so a checkpoint read back soon after its save comes from memory, not the device.
     *                     Either way an object is forced to the device before its name appears.
     */
    public FileSystemObjectStore(Path root, boolean directWrites) throws IOException {
        this(root, directWrites, DirectWrites.FILE_SYSTEM);
    }

    /** As {@link #FileSystemObjectStore(Path, boolean)}, with the probe of direct writes replaced (tests). */
    FileSystemObjectStore(Path root, boolean directWrites, DirectWrites.Probe probe) throws IOException {
        this.root = Files.createDirectories(root).toAbsolutePath().normalize();
        this.realRoot = this.root.toRealPath();
        this.direct = new DirectWrites(this.root, directWrites, probe);
    }

    /** Whether large objects are being written past the page cache: known after the first write of one. */
    public boolean writesDirect() {
        return direct.active();
    }

    /** The directory every key lives under. */
    public Path root() {
        return root;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        Path target = writeDurableBytes(key, data);
        forceDirectory(target.getParent());
    }

    /** Writes and forces {@code data} into a temporary file and renames it onto {@code key}'s path, returned. */
    private Path writeDurableBytes(String key, ByteBuffer data) throws IOException {
        checkOpen();
        Path target = KeyPaths.resolve(root, key);
        Path temporary = writeTemporary(target, data);
        try {
            moveOnto(temporary, target);
        } catch (IOException | RuntimeException e) {
            deleteQuietly(temporary, e);
            throw e;
        }
        return target;
    }

    /**
     * As {@link #put}, but the directory is not forced: the object's bytes are forced before its name appears, so a
     * crash leaves it whole or absent, and its name becomes durable with the others' in {@link #syncNames}, one fsync
     * per directory instead of one per object.
     */
    @Override
    public void putSyncingNameLater(String key, ByteBuffer data) throws IOException {
        Path target = writeDurableBytes(key, data);
        namesAdded(target.getParent()).incrementAndGet(); // after the rename: a sync that reads it forces this name
    }

    /**
     * Forces each directory holding one of {@code keys} that gained a name since this store last forced it, or that
     * this store has never forced (a name a killed process left unforced there is made durable too). The forces run
     * on up to {@value #SYNC_THREADS} threads: a checkpoint's chunks lie in up to 256 directories, and after the first
     * force (on ext4 one journal commit, which carries every rename) each of the others costs a cache flush, which
     * the device merges when they come together; one after the other they took 0.08-0.7 s of a 1 GiB save.
     */
    @Override
    public void syncNames(Collection<String> keys) throws IOException {
        checkOpen();
        Set<Path> directories = new LinkedHashSet<>();
        for (String key : keys) {
            directories.add(KeyPaths.resolve(root, key).getParent());
        }
        List<Path> toForce = new ArrayList<>();
        List<Long> counted = new ArrayList<>();
        for (Path directory : directories) {
            long added = namesAdded(directory).get(); // read before the force, which then covers every name counted
            Long forced = namesForced.get(directory);
            if (forced == null || forced < added) {
                toForce.add(directory);
                counted.add(added);
            }
        }
        if (toForce.size() <= 1) {
            for (int i = 0; i < toForce.size(); i++) {
                forceDirectory(toForce.get(i));
                namesForced.merge(toForce.get(i), counted.get(i), Math::max);
            }
            return;
        }
        int parts = Math.min(SYNC_THREADS, toForce.size());
        List<Future<?>> forcing = new ArrayList<>(parts);
        for (int k = 0; k < parts; k++) {
            int first = k;
            forcing.add(syncThreads().submit(() -> {
                for (int i = first; i < toForce.size(); i += parts) {
                    forceDirectory(toForce.get(i));
                    namesForced.merge(toForce.get(i), counted.get(i), Math::max);
                }
                return null;
            }));
        }
        awaitAll(forcing);
    }

    private ExecutorService syncThreads() throws IOException {
        synchronized (namesForced) {
            checkOpen();
            if (syncThreads == null) {
                AtomicInteger n = new AtomicInteger();
                syncThreads = Executors.newFixedThreadPool(SYNC_THREADS, r -> {
                    Thread t = new Thread(r, "cairn-fs-sync-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
            }
            return syncThreads;
        }
    }

    /** Waits for every force; the first failure is thrown (after all have ended), the others added to it. */
    private static void awaitAll(List<Future<?>> forcing) throws IOException {
        IOException failure = null;
        boolean interrupted = false;
        for (Future<?> f : forcing) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the forces still end: wait for them, then report
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    IOException io = cause instanceof IOException i ? i : new IOException("forcing a directory failed", cause);
                    if (failure == null) {
                        failure = io;
                    } else {
                        failure.addSuppressed(io);
                    }
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            if (failure == null) {
                failure = new java.io.InterruptedIOException("interrupted while forcing directories");
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private AtomicLong namesAdded(Path directory) {
        return namesAdded.computeIfAbsent(directory, d -> new AtomicLong());
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        Path target = KeyPaths.resolve(root, key);
        boolean created = link(target, data);
        // Forced either way: the winner needs its link durable, and a loser's unlink of its temp is cheap to make so.
        forceDirectory(target.getParent());
        return created;
    }

    /**
     * As {@link #putIfAbsent}, but the directory is not forced: a created name becomes durable with the others' in
     * {@link #syncNames}, as for {@link #putSyncingNameLater}.
     */
    @Override
    public boolean putIfAbsentSyncingNameLater(String key, ByteBuffer data) throws IOException {
        Path target = KeyPaths.resolve(root, key);
        boolean created = link(target, data);
        if (created) {
            namesAdded(target.getParent()).incrementAndGet(); // after the link: a sync that reads it forces this name
        }
        return created;
    }

    /** Links a forced temporary file holding {@code data} as {@code target} unless it exists; true if it created it. */
    private boolean link(Path target, ByteBuffer data) throws IOException {
        checkOpen();
        if (Files.exists(target)) {
            return false; // cheap early answer; the link below is what decides races
        }
        Path temporary = writeTemporary(target, data);
        try {
            Files.createLink(target, temporary);
            return true;
        } catch (FileAlreadyExistsException lost) {
            return false;
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        checkOpen();
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset + " reading " + key);
        }
        Path file = KeyPaths.resolve(root, key);
        objectAttributes(key, file);
        // NOFOLLOW: a link planted between the check above and this open is refused by the open itself (O_NOFOLLOW).
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            return readFully(channel, offset, dst);
        } catch (NoSuchFileException missing) {
            throw new NoSuchFileException(key);
        } catch (FileSystemException e) {
            if (Files.isSymbolicLink(file)) {
                throw notAnObject(key, file, "a symbolic link");
            }
            throw e;
        } catch (java.nio.channels.ClosedChannelException | java.io.InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            // A failing disk's EIO reads "Input/output error" alone, which does not say where.
            throw new IOException("reading " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        checkOpen();
        Path file = KeyPaths.resolve(root, key);
        BasicFileAttributes attributes = objectAttributes(key, file);
        return new ObjectInfo(key, attributes.size(), attributes.lastModifiedTime().toInstant());
    }

    /**
     * The attributes of the object {@code key} at {@code file}, read without following a link, before anything opens
     * it: only a regular file, reached through directories inside the store, is an object. A directory is a prefix of
     * other keys (missing, as an object); a symbolic link, a FIFO, a socket or a device is refused with an
     * {@link IOException} naming it, since opening a FIFO would block forever and a link may lead out of the store.
     */
    private BasicFileAttributes objectAttributes(String key, Path file) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException missing) {
            throw new NoSuchFileException(key);
        }
        if (attributes.isDirectory()) {
            throw new NoSuchFileException(key); // a prefix of other keys, not an object
        }
        if (attributes.isSymbolicLink()) {
            throw notAnObject(key, file, "a symbolic link");
        }
        if (!attributes.isRegularFile()) {
            throw notAnObject(key, file, "not a regular file (a FIFO, socket or device)");
        }
        Path parent = file.getParent();
        if (!parent.equals(root) && !parent.toRealPath().startsWith(realRoot)) {
            // The directory's fault, not the object's: a repair's put would write through the same link, so it is
            // not an object a repair can replace (UnusableObjectException), only a failure to read it.
            throw new IOException("object " + key + " (" + file + ") is reached through a symbolic link that leads out"
                    + " of the store, which this store never writes: refused");
        }
        return attributes;
    }

    private static IOException notAnObject(String key, Path file, String what) {
        return new UnusableObjectException("object " + key + " (" + file + ") is " + what + ", which this store never writes: refused");
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        checkOpen();
        Path start = KeyPaths.deepestDirectory(root, prefix);
        List<ObjectInfo> found = new ArrayList<>();
        try {
            Files.walkFileTree(start, new TolerantVisitor() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attributes) {
                    if (dir.equals(start)) {
                        return FileVisitResult.CONTINUE;
                    }
                    String directoryKey = KeyPaths.keyOf(root, dir) + "/";
                    boolean mayHoldMatches = directoryKey.startsWith(prefix) || prefix.startsWith(directoryKey);
                    return mayHoldMatches ? FileVisitResult.CONTINUE : FileVisitResult.SKIP_SUBTREE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                    if (attributes.isRegularFile() && !KeyPaths.isTemporary(file)) {
                        String key = KeyPaths.keyOf(root, file);
                        if (key.startsWith(prefix)) {
                            found.add(new ObjectInfo(key, attributes.size(), attributes.lastModifiedTime().toInstant()));
                        }
                    }
                    return FileVisitResult.CONTINUE;
                }

            });
        } catch (NoSuchFileException missingStart) {
            return List.of();
        }
        found.sort(Comparator.comparing(ObjectInfo::key));
        return found;
    }

    /**
     * The directories under the deepest directory {@code prefix} names whose names go on from it, each once it holds
     * an object somewhere below (a directory with only files being written, or emptied, is no folder): a directory
     * listing and, per directory, a walk that stops at its first object.
     */
    @Override
    public List<String> listFolders(String prefix) throws IOException {
        checkOpen();
        Path start = KeyPaths.deepestDirectory(root, prefix);
        String startKey = start.equals(root) ? "" : KeyPaths.keyOf(root, start) + "/";
        String namePrefix = prefix.substring(startKey.length());
        List<String> folders = new ArrayList<>();
        try (java.nio.file.DirectoryStream<Path> entries = Files.newDirectoryStream(start)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (name.startsWith(namePrefix) && !KeyPaths.isTemporary(entry)
                        && Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS) && holdsAnObject(entry)) {
                    folders.add(startKey + name + "/");
                }
            }
        } catch (NoSuchFileException | java.nio.file.NotDirectoryException missingStart) {
            return List.of();
        }
        folders.sort(null);
        return folders;
    }

    /**
     * A walk of a tree that other processes change meanwhile: a file or directory deleted while it is walked is no part
     * of it; any other failure is.
     */
    private abstract static class TolerantVisitor extends SimpleFileVisitor<Path> {
        @Override
        public FileVisitResult visitFileFailed(Path file, IOException failure) throws IOException {
            if (failure instanceof NoSuchFileException) {
                return FileVisitResult.CONTINUE; // deleted while we walked
            }
            throw failure;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path dir, IOException failure) throws IOException {
            if (failure != null && !(failure instanceof NoSuchFileException)) {
                throw failure;
            }
            return FileVisitResult.CONTINUE;
        }
    }

    /** Whether a regular file that is not being written lies anywhere under {@code directory}. */
    private static boolean holdsAnObject(Path directory) throws IOException {
        boolean[] found = {false};
        try {
            Files.walkFileTree(directory, new TolerantVisitor() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                    if (attributes.isRegularFile() && !KeyPaths.isTemporary(file)) {
                        found[0] = true;
                        return FileVisitResult.TERMINATE;
                    }
                    return FileVisitResult.CONTINUE;
                }

            });
        } catch (NoSuchFileException gone) {
            return false;
        }
        return found[0];
    }

    @Override
    public void delete(String key) throws IOException {
        checkOpen();
        Path file = KeyPaths.resolve(root, key);
        try {
            Files.deleteIfExists(file);
        } catch (DirectoryNotEmptyException notAnObject) {
            return; // a prefix of other keys: there is no object to delete
        }
        removeEmptyParents(file.getParent());
    }

    /** {@link #deleteStaleTemporaries}: what a sweep of the garbage collector removes here, in the folder of {@code prefix}. */
    @Override
    public int deleteAbandonedWrites(String prefix, Duration olderThan) throws IOException {
        checkOpen();
        int slash = prefix.lastIndexOf('/');
        Path folder = slash < 0 ? root : KeyPaths.resolve(root, prefix.substring(0, slash));
        return Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS) ? deleteStaleTemporaries(folder, olderThan) : 0;
    }

    /**
     * Removes temporary files older than {@code olderThan}, left behind by writers that were killed; returns how
     * many. A live writer's temporary file is younger than any sensible age, so GC may call this at any time.
     */
    public int deleteStaleTemporaries(Duration olderThan) throws IOException {
        checkOpen();
        return deleteStaleTemporaries(root, olderThan);
    }

    private int deleteStaleTemporaries(Path under, Duration olderThan) throws IOException {
        Instant cutoff = Instant.now().minus(olderThan);
        int[] deleted = {0};
        Files.walkFileTree(under, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                if (KeyPaths.isTemporary(file) && attributes.lastModifiedTime().toInstant().isBefore(cutoff)
                        && Files.deleteIfExists(file)) {
                    deleted[0]++;
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException failure) throws IOException {
                if (failure instanceof NoSuchFileException) {
                    return FileVisitResult.CONTINUE;
                }
                throw failure;
            }
        });
        return deleted[0];
    }

    @Override
    public String describe() {
        return "file system at " + root;
    }

    /** The directory's real path: the same directory named through a symbolic link is the same location. */
    @Override
    public String location() {
        return "file system at " + realRoot;
    }

    @Override
    public void close() {
        synchronized (namesForced) {
            closed = true;
            if (syncThreads != null) {
                syncThreads.shutdown();
            }
        }
    }

    /** Writes {@code data} to a new temporary file beside {@code target} and forces it to disk. */
    private Path writeTemporary(Path target, ByteBuffer data) throws IOException {
        Path directory = target.getParent();
        for (int attempt = 0; ; attempt++) {
            Path temporary = directory.resolve(KeyPaths.TEMP_PREFIX + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            int block = direct.blockFor(data.remaining());
            FileChannel channel;
            try {
                channel = block > 0 ? DirectWrites.create(temporary)
                        : FileChannel.open(temporary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (NoSuchFileException missingParent) {
                // First object under this prefix, or a delete just pruned the directory: (re)create and retry.
                if (attempt >= PARENT_RACE_RETRIES) {
                    throw missingParent;
                }
                try {
                    createDirectories(directory);
                } catch (NoSuchFileException prunedWhileCreating) {
                    // a delete removed an ancestor between our mkdirs: go round again
                }
                continue;
            } catch (FileAlreadyExistsException collision) {
                continue; // another writer drew the same 64 random bits
            } catch (IOException | UnsupportedOperationException e) {
                if (block > 0 && DirectWrites.refusesDirect(e)) {
                    deleteQuietly(temporary, e); // the open may have created it before it refused O_DIRECT
                    direct.refused(e);
                    continue; // this object and every later one buffered
                }
                throw e;
            }
            try (channel) {
                if (block > 0) {
                    DirectWrites.write(channel, data, block);
                } else {
                    writeFully(channel, data);
                }
                channel.force(true);
            } catch (Error e) {
                deleteQuietly(temporary, e); // out of direct memory for the bounce buffer, say: no temporary left
                throw e;
            } catch (IOException | RuntimeException e) {
                deleteQuietly(temporary, e);
                if (block > 0 && DirectWrites.refusesDirect(e)) {
                    direct.refused(e);
                    continue;
                }
                // "No space left on device" alone does not say where.
                if (e instanceof IOException io && !(io instanceof java.nio.file.FileSystemException)) {
                    throw new IOException("writing " + target + ": " + io.getMessage(), io);
                }
                throw e;
            }
            return temporary;
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer data) throws IOException {
        ByteBuffer source = data.duplicate(); // the caller's position stays where it was
        if (source.isDirect()) {
            while (source.hasRemaining()) {
                channel.write(source);
            }
            return;
        }
        int end = source.limit();
        while (source.position() < end) {
            source.limit(Math.min(end, source.position() + HEAP_SLICE));
            while (source.hasRemaining()) {
                channel.write(source);
            }
        }
    }

    private static int readFully(FileChannel channel, long offset, ByteBuffer dst) throws IOException {
        int start = dst.position();
        long position = offset;
        ByteBuffer window = dst.duplicate();
        int end = dst.limit();
        while (window.position() < end) {
            if (!window.isDirect()) {
                window.limit(Math.min(end, window.position() + HEAP_SLICE)); // see HEAP_SLICE
            }
            int n = channel.read(window, position);
            if (n < 0) {
                break;
            }
            position += n;
            window.limit(end);
        }
        int read = window.position() - start;
        dst.position(window.position());
        return read;
    }

    private static void moveOnto(Path temporary, Path target) throws IOException {
        try {
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("file system of " + target + " cannot rename atomically; it cannot hold checkpoints", e);
        }
    }

    /** Creates missing directories from the root down, forcing each new directory's parent so it is durable. */
    private void createDirectories(Path directory) throws IOException {
        if (directory.equals(root) || Files.isDirectory(directory)) {
            return;
        }
        createDirectories(directory.getParent());
        try {
            Files.createDirectory(directory);
        } catch (FileAlreadyExistsException raced) {
            return; // another writer made it (or it is a file, which the write itself will then report)
        }
        forceDirectory(directory.getParent());
    }

    /** Deletes now-empty directories from {@code directory} up to the root; writers recreate what they need. */
    private void removeEmptyParents(Path directory) {
        for (Path current = directory; current != null && !current.equals(root) && current.startsWith(root);
                current = current.getParent()) {
            try {
                Files.delete(current);
            } catch (NoSuchFileException alreadyGone) {
                // someone else pruned it; keep going up
            } catch (IOException notEmptyOrBusy) {
                return; // best effort: DirectoryNotEmptyException is the normal way to stop
            }
        }
    }

    /**
     * Makes the entries of {@code directory} durable. A directory that is gone was emptied and pruned by a
     * concurrent delete, which then happened after our write: nothing left to make durable. Windows cannot open a
     * directory as a channel at all; there it is a no-op. Anywhere else a directory that cannot be opened (not
     * readable, no file descriptor left) fails the write: its name would not be durable when the write says it is.
     */
    private static void forceDirectory(Path directory) throws IOException {
        FileChannel channel;
        try {
            channel = directoryOpener.open(directory);
        } catch (NoSuchFileException prunedSinceOurWrite) {
            return;
        } catch (IOException e) {
            if (DIRECTORIES_OPEN) {
                throw new IOException("cannot make the names in " + directory + " durable: " + e, e);
            }
            return;
        }
        try (channel) {
            channel.force(true);
        }
    }

    /** How a directory is opened to be forced; tests put in a failure a root user cannot meet (EACCES, EMFILE). */
    interface DirectoryOpener {
        FileChannel open(Path directory) throws IOException;
    }

    static volatile DirectoryOpener directoryOpener = directory -> FileChannel.open(directory, StandardOpenOption.READ);

    /** Whether this platform opens a directory as a channel to force it (all but Windows). */
    private static final boolean DIRECTORIES_OPEN = !System.getProperty("os.name", "").startsWith("Windows");

    private static void deleteQuietly(Path file, Throwable cause) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("store at " + root + " is closed");
        }
    }
}
