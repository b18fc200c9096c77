package io.osprey.agent;

/** A tiny class the transformer instruments once at start-up, to load its own classes early. */
public final class Warmup {
    /** A hooked method. */
    public int work(int x) {
        return x + 1;
    }

    /** A transaction method. */
    public static void run() {}
}
