package demo.inspect;

import java.util.ArrayList;
import java.util.List;

/**
 * The program of {@code ffi/tests/jvm_inspector.rs}. Prints whether the agent's inspector thread
 * exists when {@code main} starts (it must not touch JMX before), runs short transactions
 * ({@code handle*} methods, hooked with {@code hook.transactions}) for {@code args[0]} ms, then
 * one transaction sleeping {@code args[1]} ms (active services must show it with its stack),
 * and prints whether the inspector thread exists then. With {@code args[2]}, first initialises
 * {@code java.util.logging} and idles that many ms without a transaction.
 */
public class InspectorApp {
    static final List<byte[]> KEEP = new ArrayList<byte[]>();

    public static void main(String[] args) throws Exception {
        System.out.println("main-start inspector-thread=" + inspectorThread());
        long runMs = Long.parseLong(args[0]);
        long slowMs = args.length > 1 ? Long.parseLong(args[1]) : 0L;
        if (args.length > 2) {
            // Logging first, as a server does at boot, then idle without transactions.
            java.util.logging.Logger.getLogger("demo").fine("booting");
            Thread.sleep(Long.parseLong(args[2]));
            System.out.println("idle-end inspector-thread=" + inspectorThread());
        }
        long end = System.currentTimeMillis() + runMs;
        int i = 0;
        while (System.currentTimeMillis() < end) {
            handleRequest(i++);
            Thread.sleep(50);
        }
        if (slowMs > 0) {
            handleSlow(slowMs);
        }
        System.out.println("main-end inspector-thread=" + inspectorThread() + " requests=" + i);
    }

    /** A short transaction that allocates (so collectors run). */
    public static int handleRequest(int i) {
        int sum = 0;
        for (int k = 0; k < 200; k++) {
            byte[] b = new byte[16 * 1024];
            b[k] = (byte) i;
            sum += b[k];
            if (k == 0) {
                KEEP.add(b);
                if (KEEP.size() > 64) {
                    KEEP.remove(0);
                }
            }
        }
        return sum;
    }

    /** A transaction that runs past the active-services stack threshold. */
    public static void handleSlow(long ms) throws InterruptedException {
        Thread.sleep(ms);
    }

    static boolean inspectorThread() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if ("osprey-inspector".equals(t.getName())) {
                return true;
            }
        }
        return false;
    }
}
