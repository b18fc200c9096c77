package sample;

/** A subclass of an application's Thread subclass, overriding run() again. */
public final class FakeDeepWorker extends FakeWorker {
    @Override
    public void run() {
        runs += 10;
        if (runs > 100) {
            throw new IllegalStateException("too many runs");
        }
    }
}
