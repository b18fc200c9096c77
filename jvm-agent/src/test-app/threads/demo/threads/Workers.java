package demo.threads;

/**
 * The application's own subclasses of {@code Thread} overriding {@code run()} (not hooked: their
 * runs are recorded only because they were started inside a transaction, but {@link Hooked}'s,
 * whose {@code run()} the test hooks too): a direct subclass, a subclass of it overriding {@code
 * run()} again, an anonymous one, and a pool's worker thread of the application's class.
 */
final class Workers {
    private Workers() {}

    /** A direct subclass. */
    static class Worker extends Thread {
        Worker(String name) {
            super(name);
        }

        @Override
        public void run() {
            MoreThreadsApp.work("worker");
        }
    }

    /** A subclass of an application subclass, overriding {@code run()} again. */
    static final class DeepWorker extends Worker {
        DeepWorker(String name) {
            super(name);
        }

        @Override
        public void run() {
            MoreThreadsApp.work("deep");
        }
    }

    /**
     * The application's thread class for a pool's workers (its thread factory's): overrides
     * {@code run()} but runs the pool's worker, so it never carries the request it started in.
     */
    static final class PoolThread extends Thread {
        PoolThread(Runnable worker, String name) {
            super(worker, name);
        }

        @Override
        public void run() {
            super.run();
        }
    }

    /** A subclass whose {@code run()} is a hooked method too. */
    static final class Hooked extends Thread {
        Hooked(String name) {
            super(name);
        }

        @Override
        public void run() {
            MoreThreadsApp.work("hooked");
        }
    }

    /** An anonymous subclass. */
    static Thread anonymous(String name) {
        return new Thread(name) {
            @Override
            public void run() {
                MoreThreadsApp.work("anon");
            }
        };
    }
}
