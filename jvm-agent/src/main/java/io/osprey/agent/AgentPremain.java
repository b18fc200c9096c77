package io.osprey.agent;

import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.instrument.Instrumentation;
import java.util.jar.JarFile;

/**
 * Entry point of {@code -javaagent:osprey-agent.jar}. Does almost nothing: finds its own jar, puts
 * the bootstrap bridge on the boot class path, hands off to {@link Agent}, and catches every
 * Throwable. Touches no logging and no JMX.
 */
public final class AgentPremain {
    private AgentPremain() {}

    /** Called by the JVM before {@code main}. */
    public static void premain(String args, Instrumentation inst) {
        start(args, inst);
    }

    /** Called when attached to a running JVM. */
    public static void agentmain(String args, Instrumentation inst) {
        start(args, inst);
    }

    private static void start(String args, Instrumentation inst) {
        try {
            File agentJar = new File(AgentPremain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Agent.start(args, inst, agentJar);
        } catch (Throwable t) {
            System.err.println("osprey: agent disabled: " + oneLine(t));
        }
    }

    /**
     * Creates this process's private directory ({@link AgentTempDir}: owner-only on POSIX, swept
     * when the JVM was killed), extracts the bootstrap jar into it and appends that jar to the
     * boot class path.
     */
    static File appendBootstrap(Instrumentation inst) throws Exception {
        File dir = AgentTempDir.create();
        File bootstrap = new File(dir, "osprey-bootstrap.jar");
        copyResource("/osprey-bootstrap.jar", bootstrap);
        bootstrap.deleteOnExit();
        inst.appendToBootstrapClassLoaderSearch(new JarFile(bootstrap));
        return dir;
    }

    static void copyResource(String name, File to) throws Exception {
        InputStream in = AgentPremain.class.getResourceAsStream(name);
        if (in == null) {
            throw new IllegalStateException(name + " is missing from the agent jar");
        }
        try (InputStream src = in;
                OutputStream out = new FileOutputStream(to)) {
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = src.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
        }
    }

    /** The throwable as one line: its type and message. */
    public static String oneLine(Throwable t) {
        return String.valueOf(t).replace('\n', ' ').replace('\r', ' ');
    }
}
