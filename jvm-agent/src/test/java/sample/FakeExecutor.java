package sample;

import java.util.concurrent.Callable;

/** Shaped like an executor: runs what it is given at once, or throws for a null task. */
public class FakeExecutor {
    public Object last;

    public void execute(Runnable task) {
        last = task;
        task.run();
    }

    public Object submit(Callable<?> task) throws Exception {
        last = task;
        return task.call();
    }
}
