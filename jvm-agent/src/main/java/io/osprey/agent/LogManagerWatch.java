package io.osprey.agent;

import java.lang.instrument.ClassFileTransformer;
import java.security.ProtectionDomain;

/**
 * Runs an action once, when the class of the application's own {@code java.util.logging}
 * manager (JBoss's {@code org.jboss.logmanager.LogManager}) is loaded: the sign that the server
 * is installing its logging, after which JMX is safe. A transformer that never changes a class:
 * one string comparison per class load until it fires, then removed by the inspector.
 */
final class LogManagerWatch implements ClassFileTransformer {
    private final String internalName;
    private final Runnable action;
    private volatile boolean fired;

    LogManagerWatch(String className, Runnable action) {
        this.internalName = className.replace('.', '/');
        this.action = action;
    }

    @Override
    public byte[] transform(ClassLoader loader, String className, Class<?> redefined, ProtectionDomain domain,
            byte[] bytes) {
        if (!fired && internalName.equals(className)) {
            fired = true;
            try {
                action.run();
            } catch (Throwable ignored) {
                // never into class loading
            }
        }
        return null;
    }
}
