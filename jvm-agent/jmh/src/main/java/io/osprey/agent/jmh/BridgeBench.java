package io.osprey.agent.jmh;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost of one instrumented call (an enter + exit pair) inside a transaction of {@link #PAIRS}
 * pairs, through the designs the agent could use. Every benchmark begins and ends a real
 * transaction, so the per-pair figures include 1/PAIRS of that; {@link #txnOnly} is the
 * baseline to subtract.
 *
 * <p>{@link #pipeline} {@code exported}: every transaction goes to the collector, which converts
 * and stores it on the other core. At 100 steps per transaction and tens of millions of steps per
 * second that work outruns two cores, and the benchmark thread shares a core with it in some forks
 * and not in others (run-to-run spread). {@code recordOnly}: a 4 KiB queue budget drops each
 * transaction at hand-over, so what is measured is the application thread's own cost.
 *
 * <p>Run: {@code java -Dosprey.native.path=../../target/release/libosprey.so -jar
 * target/benchmarks.jar}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xss4m"})
@State(Scope.Thread)
public class BridgeBench {
    static final int PAIRS = 100;

    /** {@code exported} or {@code recordOnly} (see the class comment). */
    @Param({"exported", "recordOnly"})
    public String pipeline;

    int nameId;
    int keyId;
    ByteBuffer buffer;

    @Setup
    public void setUp() throws Exception {
        String lib = System.getProperty("osprey.native.path", "../../target/release/libosprey.so");
        OspreyNative.load(new java.io.File(lib).getAbsolutePath());
        String dir = Files.createTempDirectory("osprey-jmh").toString();
        String config = "exporter=store;store.dir=" + dir + ";store.max_bytes=67108864";
        if ("recordOnly".equals(pipeline)) {
            config += ";queue.max_bytes=4096";
        }
        int rc = OspreyNative.init(config);
        if (rc != 0 && rc != 5) { // 5: already running (several benchmarks, one JVM)
            throw new IllegalStateException("init: " + OspreyNative.lastError());
        }
        nameId = OspreyNative.intern("bench.Service.call()");
        keyId = OspreyNative.intern("osprey.buffered_bytes");
        buffer = ByteBuffer.allocateDirect(PAIRS * 2 * 12 + 64).order(ByteOrder.nativeOrder());
        Osprey.enabled = true;
    }

    @TearDown
    public void tearDown() {
        OspreyNative.flush(5000);
    }

    /** Baseline: begin and end a transaction with no step. */
    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public int txnOnly() {
        OspreyNative.begin("bench", OspreyNative.TXN_INTERNAL, null);
        return OspreyNative.end();
    }

    /** Per-event JNI, raw natives: the TSC is read in Rust. */
    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public int jniPair() {
        OspreyNative.begin("bench", OspreyNative.TXN_INTERNAL, null);
        int id = nameId;
        for (int i = 0; i < PAIRS; i++) {
            long h = OspreyNative.enter(id, OspreyNative.STEP_METHOD);
            OspreyNative.exit(h);
        }
        return OspreyNative.end();
    }

    /** What injected code runs: the {@code Osprey} facade (enabled flag, try/catch) over JNI. */
    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public int facadePair() {
        OspreyNative.begin("bench", OspreyNative.TXN_INTERNAL, null);
        int id = nameId;
        for (int i = 0; i < PAIRS; i++) {
            long h = Osprey.enter(id);
            Osprey.exit(h);
        }
        return OspreyNative.end();
    }

    /**
     * The alternative: record (id, System.nanoTime) per event into a thread-local direct buffer,
     * hand it to Rust once per transaction. The hand-over is modelled by one JNI call carrying the
     * byte count; decoding the buffer in Rust is not included (FACTS.md: copying 12 kB ≈ 271 ns).
     */
    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public int bufferedPair() {
        OspreyNative.begin("bench", OspreyNative.TXN_INTERNAL, null);
        ByteBuffer b = buffer;
        b.clear();
        int id = nameId;
        for (int i = 0; i < PAIRS; i++) {
            b.putInt(id).putLong(System.nanoTime());
            b.putInt(-id).putLong(System.nanoTime());
        }
        OspreyNative.attrLong(-1L, keyId, b.position());
        return OspreyNative.end();
    }

    /** The agent switched off: the facade's enabled check only. */
    @Benchmark
    @OperationsPerInvocation(PAIRS)
    public long facadeDisabled() {
        Osprey.enabled = false;
        long sum = 0;
        int id = nameId;
        for (int i = 0; i < PAIRS; i++) {
            long h = Osprey.enter(id);
            Osprey.exit(h);
            sum += h;
        }
        Osprey.enabled = true;
        return sum;
    }
}
