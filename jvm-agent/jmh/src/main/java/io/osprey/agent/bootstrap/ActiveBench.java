package io.osprey.agent.bootstrap;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost per transaction of the active-services registry: {@link Active#begin} + {@link
 * Active#end} (what {@code Osprey.began} and the end of a transaction add), on and off, with one
 * and two recording threads. No native code involved. In this package because the two methods
 * are package-private. Run with {@code -prof gc} for the bytes allocated per transaction.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class ActiveBench {
    @Param({"true", "false"})
    public boolean on;

    @Setup(Level.Trial)
    public void setUp() {
        Active.on = on;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Active.on = false;
        Active.clear();
    }

    @Benchmark
    public void beginEnd() {
        Active.begin("GET /bench");
        Active.end();
    }

    @Benchmark
    @Threads(2)
    public void beginEndTwoThreads() {
        Active.begin("GET /bench");
        Active.end();
    }
}
