package io.osprey.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentTempDirTest {
    /** A JVM that locks the file named by its argument, says so, and waits for stdin to close. */
    private static final String LOCKER = String.join("\n",
            "import java.nio.channels.*;",
            "import java.nio.file.*;",
            "public class Locker {",
            "  public static void main(String[] a) throws Exception {",
            "    FileChannel ch = FileChannel.open(Path.of(a[0]), StandardOpenOption.CREATE,",
            "        StandardOpenOption.WRITE);",
            "    FileLock l = ch.lock();",
            "    System.out.println(\"locked\");",
            "    System.out.flush();",
            "    System.in.read();",
            "  }",
            "}");

    /** A JVM that tries the lock of the file named by its argument and prints "held" or "free". */
    private static final String PROBER = String.join("\n",
            "import java.nio.channels.*;",
            "import java.nio.file.*;",
            "public class Prober {",
            "  public static void main(String[] a) throws Exception {",
            "    try (FileChannel ch = FileChannel.open(Path.of(a[0]), StandardOpenOption.WRITE)) {",
            "      System.out.println(ch.tryLock() == null ? \"held\" : \"free\");",
            "    }",
            "  }",
            "}");

    @TempDir
    Path root;

    private File dir(String name, boolean withLock) throws Exception {
        File d = root.resolve(name).toFile();
        assertTrue(d.mkdir());
        Files.write(new File(d, "osprey-bootstrap.jar").toPath(), new byte[] {1, 2, 3});
        if (withLock) {
            Files.write(new File(d, AgentTempDir.LOCK).toPath(), new byte[0]);
        }
        return d;
    }

    /** Another JVM running the single-file program {@code source} on {@code file}. */
    private Process java(String name, String source, File file) throws Exception {
        Path src = root.resolve(name + ".java");
        Files.write(src, source.getBytes(StandardCharsets.UTF_8));
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        return new ProcessBuilder(java, src.toString(), file.toString())
                .redirectErrorStream(true)
                .start();
    }

    private static String firstLine(Process p) throws Exception {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
    }

    /** Another JVM holding {@code dir}'s lock, started and locked when this returns. */
    private Process lockedBy(File dir) throws Exception {
        Process p = java("Locker", LOCKER, new File(dir, AgentTempDir.LOCK));
        assertEquals("locked", firstLine(p));
        return p;
    }

    @Test
    void aCreatedDirectoryIsLockedBeforeItsLockFileHasItsName() throws Exception {
        File dir = AgentTempDir.create(root);

        assertTrue(dir.getName().startsWith(AgentTempDir.PREFIX));
        File lock = new File(dir, AgentTempDir.LOCK);
        assertTrue(lock.isFile());
        assertFalse(new File(dir, AgentTempDir.PENDING).exists(), "the pending name is gone once locked");
        Process probe = java("Prober", PROBER, lock);
        assertEquals("held", firstLine(probe), "another JVM finds the lock held (the rename kept it)");
        assertTrue(probe.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, AgentTempDir.sweep(root.toFile(), null, System.currentTimeMillis()));
        assertTrue(dir.isDirectory());
    }

    @Test
    void aDirectoryBeingCreatedIsNeverSweptFromUnderIt() throws Exception {
        // Agents starting at the same instant: one sweeps while the other creates (in one JVM here,
        // where a lock not yet taken reads as free just as it does from another process).
        AtomicBoolean done = new AtomicBoolean();
        Thread sweeper = new Thread(() -> {
            while (!done.get()) {
                AgentTempDir.sweep(root.toFile(), null, System.currentTimeMillis());
            }
        });
        sweeper.start();
        List<File> lost = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) {
                File dir = AgentTempDir.create(root);
                if (!new File(dir, AgentTempDir.LOCK).isFile()) {
                    lost.add(dir);
                }
            }
        } finally {
            done.set(true);
            sweeper.join();
        }
        assertTrue(lost.isEmpty(), "directories swept while being created: " + lost);
    }

    @Test
    void sweepsOnlyWhatJvmsThatAreGoneLeft() throws Exception {
        File live = dir("osprey-live", true);
        File killed = dir("osprey-killed", true);
        File own = dir("osprey-own", true);
        File sameJvm = dir("osprey-same-jvm", true);
        File young = dir("osprey-young", false);
        // One being created this instant: its lock file not yet locked, so not yet named "lock".
        Files.write(new File(young, AgentTempDir.PENDING).toPath(), new byte[0]);
        File old = dir("osprey-old", false);
        File nested = dir("osprey-nested", true);
        assertTrue(new File(nested, "sub").mkdir());
        File other = dir("other-app", true);
        assertTrue(old.setLastModified(System.currentTimeMillis() - AgentTempDir.UNLOCKED_AGE_MS - 60_000));

        Process holder = lockedBy(live);
        Process victim = lockedBy(killed);
        victim.destroyForcibly(); // as kill -9: no shutdown hooks, no deleteOnExit
        assertTrue(victim.waitFor(30, TimeUnit.SECONDS));
        try (FileChannel ch = FileChannel.open(
                        new File(sameJvm, AgentTempDir.LOCK).toPath(), StandardOpenOption.WRITE);
                FileLock mine = ch.lock()) {
            int removed = AgentTempDir.sweep(root.toFile(), own, System.currentTimeMillis());

            assertEquals(2, removed);
            assertFalse(killed.exists(), "a killed JVM's directory is swept");
            assertFalse(old.exists(), "an old directory without a lock is swept");
            assertTrue(live.isDirectory(), "a live JVM's directory stays");
            assertTrue(new File(live, "osprey-bootstrap.jar").isFile());
            assertTrue(sameJvm.isDirectory(), "a directory this JVM holds stays");
            assertTrue(own.isDirectory(), "the caller's own directory stays");
            assertTrue(young.isDirectory(), "a young directory without a lock may be starting: it stays");
            assertTrue(nested.isDirectory(), "a directory holding a directory is not ours: it stays");
            assertTrue(other.isDirectory(), "other names are never touched");
        } finally {
            holder.getOutputStream().close();
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        // Its JVM gone, the live one's directory goes too, and so does the one this JVM let go.
        assertEquals(2, AgentTempDir.sweep(root.toFile(), own, System.currentTimeMillis()));
        assertFalse(live.exists());
        assertFalse(sameJvm.exists());
        assertTrue(own.isDirectory() && young.isDirectory() && nested.isDirectory() && other.isDirectory());
    }

    @Test
    void aMissingParentSweepsNothingAndThrowsNothing() {
        assertEquals(0, AgentTempDir.sweep(root.resolve("absent").toFile(), null, System.currentTimeMillis()));
    }
}
