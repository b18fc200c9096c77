package io.osprey.agent.lib.reactor;

import java.lang.reflect.Method;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * What the rewrite costs a Reactor chain, measured by hand (not a test; no timing is asserted):
 * nanoseconds per element through {@code Flux.range(n).hide().map(f).hide().map(f)} into a
 * consumer (five subscribers, one {@code onNext} each per element, no fusion), with reactor-core
 * loaded plainly, rewritten without a carrier, and rewritten with the subscribing thread's carrier
 * current (every signal on the thread that already has it). Best of five runs per figure.
 *
 * <p>Run after {@code mvn test-compile}: {@code java -cp target/classes:target/test-classes:<asm,
 * asm-commons, asm-tree, reactor-core, reactive-streams jars>
 * io.osprey.agent.lib.reactor.ReactorSignalCost}
 */
public final class ReactorSignalCost {
    private ReactorSignalCost() {}

    /** A carrier that never has a transaction to join. */
    static final class Idle extends Carrier {
        @Override
        protected boolean join() {
            return false;
        }

        @Override
        protected void leave() {}
    }

    /** Prints the three figures, {@code args[0]} rounds (default 5). */
    public static void main(String[] args) throws Exception {
        Reactors.on = true;
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int n = 5_000_000;
        for (int round = 0; round < rounds; round++) {
            System.out.printf("plain %.2f  rewritten, no carrier %.2f  rewritten, carrier current %.2f ns/element%n",
                    run(new ReactorInstrumentationTest.Rewriting(false), n, null),
                    run(new ReactorInstrumentationTest.Rewriting(true), n, null),
                    run(new ReactorInstrumentationTest.Rewriting(true), n, new Idle()));
        }
    }

    static double run(ClassLoader l, int n, Carrier carrier) throws Exception {
        Class<?> flux = l.loadClass("reactor.core.publisher.Flux");
        Method range = flux.getMethod("range", int.class, int.class);
        Method hide = flux.getMethod("hide");
        Method map = flux.getMethod("map", Function.class);
        Method subscribe = flux.getMethod("subscribe", Consumer.class);
        Function<Object, Object> f = x -> x;
        final long[] sink = new long[1];
        Consumer<Object> c = x -> sink[0]++;
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            Carrier previous = Carrier.set(carrier);
            try {
                Object chain = map.invoke(hide.invoke(map.invoke(hide.invoke(range.invoke(null, 0, n)), f)), f);
                long t0 = System.nanoTime();
                subscribe.invoke(chain, c);
                best = Math.min(best, (double) (System.nanoTime() - t0) / n);
            } finally {
                Carrier.set(previous);
            }
        }
        return best;
    }
}
