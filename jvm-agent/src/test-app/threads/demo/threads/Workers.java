package demo.threads;

/**
 * The application's own subclasses of {@code Thread} overriding {@code run()} (not hooked: their
 * runs are recorded only because they were started inside a transaction): a direct subclass, a
 * subclass of it overriding {@code run()} again, and an anonymous one.
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
