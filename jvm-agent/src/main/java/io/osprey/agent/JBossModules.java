package io.osprey.agent;

/**
 * JBoss Modules (WildFly, JBoss EAP): module class loaders delegate to the boot loader only the
 * packages named in {@code jboss.modules.system.pkgs}, which JBoss Modules reads once when it
 * starts, after premain. Appending the bridge package there from premain lets injected code in
 * any module link to the bridge, with nothing for the user to edit. Touches no logging and no JMX.
 */
final class JBossModules {
    static final String PROPERTY = "jboss.modules.system.pkgs";
    static final String BRIDGE_PACKAGE = "io.osprey.agent.bootstrap";
    /** The libraries' runtime helpers ({@code io.osprey.agent.lib.*}), on the boot class path too. */
    static final String LIBRARY_PACKAGE = "io.osprey.agent.lib";

    private static volatile boolean delegated;

    private JBossModules() {}

    /** Adds the bridge package to {@code jboss.modules.system.pkgs} (kept when already there). */
    static void delegateBridge() {
        try {
            String current = System.getProperty(PROPERTY);
            String value = current == null || current.trim().isEmpty() ? null : current;
            for (String pkg : new String[] {BRIDGE_PACKAGE, LIBRARY_PACKAGE}) {
                if (value == null) {
                    value = pkg;
                } else if (!names(value, pkg)) {
                    value = value + "," + pkg;
                }
            }
            System.setProperty(PROPERTY, value);
            delegated = true;
        } catch (Throwable t) {
            // A security manager refusing: JBoss module classes then stay uninstrumented.
            delegated = false;
        }
    }

    /** True for a JBoss Modules class loader once the bridge package is delegated. */
    static boolean delegates(ClassLoader loader) {
        return delegated && loader.getClass().getName().startsWith("org.jboss.modules.");
    }

    /** Whether the comma-separated {@code list} names {@code pkg}. */
    static boolean names(String list, String pkg) {
        for (String item : list.split(",")) {
            if (item.trim().equals(pkg)) {
                return true;
            }
        }
        return false;
    }
}
