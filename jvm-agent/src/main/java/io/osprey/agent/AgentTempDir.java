package io.osprey.agent;

import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * The agent's private temporary directory ({@code osprey-<random>} under {@code java.io.tmpdir},
 * owner-only on POSIX), which holds the bootstrap jar for the JVM's lifetime.
 *
 * <p>A JVM that exits normally deletes it ({@code deleteOnExit}); one that is killed
 * ({@code kill -9}, the OOM killer, a container stopped past its grace period) cannot. So each
 * directory holds a {@code lock} file, locked before it takes that name and for the life of its
 * JVM (the operating system releases the lock when the process dies, however it dies), and every
 * start sweeps the directories whose lock is free: those of JVMs that are gone. Directories
 * without a lock file (an agent before this one, or one being created this instant) are swept
 * only when older than {@link #UNLOCKED_AGE_MS}. The sweep never throws and removes at most
 * {@link #SWEEP_MAX} directories per start, so a start never waits on a huge temporary directory.
 */
final class AgentTempDir {
    static final String PREFIX = "osprey-";
    static final String LOCK = "lock";
    /** The lock file's name until it is locked; never probed by a sweep. */
    static final String PENDING = "lock.pending";
    static final long UNLOCKED_AGE_MS = TimeUnit.HOURS.toMillis(1);
    static final int SWEEP_MAX = 256;

    /** Held until the JVM ends: marks this JVM's directory as in use. */
    private static FileLock held;

    private AgentTempDir() {}

    /**
     * Creates this JVM's directory, locks it, and sweeps those left by JVMs that are gone.
     *
     * <p>The lock is taken on {@link #PENDING} and only then renamed to {@link #LOCK} (a lock
     * belongs to the file, not its name), so {@code lock} is never seen unlocked while its JVM
     * lives: another JVM starting at the same instant would take an unlocked {@code lock} for a
     * dead JVM's, sweep the directory from under this one (the bootstrap jar then fails to
     * extract), and its probe could even hold the lock at the instant this JVM tries it.
     */
    static File create() throws IOException {
        return create(Paths.get(System.getProperty("java.io.tmpdir")));
    }

    /** {@link #create()} in {@code parent}. */
    static File create(Path parent) throws IOException {
        File dir = Files.createTempDirectory(parent, PREFIX).toFile();
        dir.deleteOnExit();
        File pending = new File(dir, PENDING);
        File lock = new File(dir, LOCK);
        // Registered after the directory, so deleted before it (deleteOnExit runs in reverse).
        pending.deleteOnExit();
        lock.deleteOnExit();
        FileChannel ch = FileChannel.open(pending.toPath(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            held = ch.tryLock();
        } catch (IOException | RuntimeException e) {
            // Locks unsupported here: the directory still works, it just cannot be told from a
            // dead JVM's, so it keeps no lock file and the sweep treats it like an unlocked one
            // (kept while young).
        }
        if (held != null) {
            // Where an open file cannot be renamed (Windows) this fails and the directory keeps
            // no lock file: kept while young, as above.
            pending.renameTo(lock);
        }
        sweep(dir.getParentFile(), dir, System.currentTimeMillis());
        return dir;
    }

    /**
     * Removes the {@code osprey-*} directories in {@code parent} (other than {@code own}) left by
     * JVMs that are gone; the number removed. Never throws.
     */
    static int sweep(File parent, File own, long nowMs) {
        int removed = 0;
        try {
            File[] dirs = parent.listFiles((d, name) -> name.startsWith(PREFIX));
            if (dirs == null) {
                return 0;
            }
            for (File dir : dirs) {
                if (removed >= SWEEP_MAX) {
                    break;
                }
                if (!dir.isDirectory() || dir.equals(own)) {
                    continue;
                }
                if (abandoned(dir, nowMs) && removeFlat(dir)) {
                    removed++;
                }
            }
        } catch (Throwable t) {
            // Tidying up is a courtesy; it must never stop the agent.
        }
        return removed;
    }

    /** Whether no live JVM uses {@code dir}. */
    private static boolean abandoned(File dir, long nowMs) {
        File lock = new File(dir, LOCK);
        if (!lock.isFile()) {
            return nowMs - dir.lastModified() > UNLOCKED_AGE_MS;
        }
        try (FileChannel ch = FileChannel.open(lock.toPath(), StandardOpenOption.WRITE)) {
            FileLock probe = ch.tryLock();
            if (probe == null) {
                return false; // another live JVM holds it
            }
            probe.release();
            return true;
        } catch (OverlappingFileLockException e) {
            return false; // held by this JVM
        } catch (IOException | RuntimeException e) {
            return false; // cannot tell: leave it
        }
    }

    /** Deletes the files directly in {@code dir}, then {@code dir}; false if anything stayed. */
    private static boolean removeFlat(File dir) {
        File[] files = dir.listFiles();
        if (files == null) {
            return false;
        }
        for (File f : files) {
            if (f.isDirectory() || !f.delete()) {
                return false; // not one of ours: leave the rest alone
            }
        }
        return dir.delete();
    }
}
