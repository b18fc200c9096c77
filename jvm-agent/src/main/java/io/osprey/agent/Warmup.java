package io.osprey.agent;

/** A tiny class the transformer instruments once at start-up, to load its own classes early. */
public final class Warmup {
    /** A hooked method. */
    public int work(int x) {
        return x + 1;
    }

    /** A transaction method. */
    public static void run() {}

    /** Shaped like {@code StandardHostValve.invoke}. */
    public void invoke(Warmup request, Warmup response) {}

    /** Shaped like {@code HttpServlet.service}. */
    public void service(Warmup request, Warmup response) {}

    /** Shaped like Undertow's {@code ServletInitialHandler.handleFirstRequest}. */
    void handleFirstRequest(Warmup exchange, Warmup context) {}

    /** Shaped like Jersey's {@code ResourceMethodInvoker.apply(RequestProcessingContext)}. */
    public Warmup apply(Warmup context) {
        return context;
    }

    /** Shaped like {@code Executor.execute(Runnable)}. */
    public void execute(Runnable task) {}

    /** Shaped like {@code Statement.execute(String)}. */
    public boolean execute(String sql) {
        return sql != null;
    }

    /** Shaped like {@code PreparedStatement.executeQuery()}. */
    public Object executeQuery() {
        return this;
    }

    /** Shaped like {@code Connection.prepareStatement(String)}. */
    public Object prepareStatement(String sql) {
        return this;
    }
}
