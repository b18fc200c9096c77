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
