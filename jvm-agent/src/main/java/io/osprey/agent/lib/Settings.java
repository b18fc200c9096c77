package io.osprey.agent.lib;

/** The agent's merged configuration, as a library reads it. */
public interface Settings {
    /** The value of {@code key} (without the {@code osprey.} prefix); null when unset or empty. */
    String get(String key);

    /** A boolean key that is on unless set to {@code false}. */
    boolean flagOn(String key);
}
