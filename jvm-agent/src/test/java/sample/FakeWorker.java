package sample;

/** An application's subclass of Thread overriding run(), for the thread-run rewrite. */
public class FakeWorker extends Thread {
    /** Runs so far. */
    public int runs;

    @Override
    public void run() {
        runs++;
    }
}
