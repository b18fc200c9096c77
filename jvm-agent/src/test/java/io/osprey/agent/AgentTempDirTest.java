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
import java.util.concurrent.TimeUnit;
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

    /** Another JVM holding {@code dir}'s lock, started and locked when this returns. */
    private Process lockedBy(File dir) throws Exception {
        Path src = root.resolve("Locker.java");
        Files.write(src, LOCKER.getBytes(StandardCharsets.UTF_8));
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        Process p = new ProcessBuilder(java, src.toString(), new File(dir, AgentTempDir.LOCK).toString())
                .redirectErrorStream(true)
                .start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("locked", out.readLine());
        return p;
    }

    @Test
    void sweepsOnlyWhatJvmsThatAreGoneLeft() throws Exception {
        File live = dir("osprey-live", true);
        File killed = dir("osprey-killed", true);
        File own = dir("osprey-own", true);
        File sameJvm = dir("osprey-same-jvm", true);
        File young = dir("osprey-young", false);
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
