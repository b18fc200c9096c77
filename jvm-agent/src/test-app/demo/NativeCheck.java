package demo;

import io.osprey.agent.bootstrap.OspreyNative;

/**
 * Drives every native method of {@code OspreyNative} directly (the agent puts it on the boot
 * class path) and prints what each returned, for {@code ffi/tests/jvm_agent.rs}.
 */
public class NativeCheck {
    public static void main(String[] args) {
        String inbound = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        System.out.println("begin=" + OspreyNative.begin("GET /check", OspreyNative.TXN_SERVER, inbound));
        System.out.println("beginAgain=" + OspreyNative.begin("x", 0, null));
        System.out.println("lastError=" + OspreyNative.lastError());
        OspreyNative.attrStr(-1, OspreyNative.intern("http.request.method"), "GET");
        OspreyNative.attrLong(-1, OspreyNative.intern("http.response.status_code"), 200);
        int stepId = OspreyNative.intern("Check.step");
        long h = OspreyNative.enter(stepId, OspreyNative.STEP_METHOD);
        System.out.println("handleNonZero=" + (h != 0));
        OspreyNative.attrStr(h, OspreyNative.intern("note"), "h\u00e9llo \u2713 \ud834\udd1e");
        OspreyNative.attrName(h, OspreyNative.intern("pool"), OspreyNative.intern("h\u00e9llo-pool"));
        OspreyNative.attrName(h, OspreyNative.intern("skipped"), -1);
        System.out.println("traceparent=" + OspreyNative.traceparent());
        OspreyNative.error(0, "java.io.IOException", "disk full", "at demo.NativeCheck.main\n");
        long cell = OspreyNative.deferEnd(h);
        System.out.println("deferNonZero=" + (cell != 0));
        OspreyNative.exit(h);
        OspreyNative.completeDeferred(cell, 201, null, null);
        OspreyNative.completeDeferred(0, 500, "ignored", null);
        OspreyNative.rename("GET /renamed");
        System.out.println("end=" + OspreyNative.end());
        System.out.println("endAgain=" + OspreyNative.end());
        System.out.println("enterNoTxn=" + OspreyNative.enter(stepId, 0));
        System.out.println("deferNoTxn=" + OspreyNative.deferEnd(h));
        OspreyNative.exit(0);
        OspreyNative.attrStr(0, stepId, "ignored");
        OspreyNative.attrName(0, stepId, stepId);
        OspreyNative.error(-1, null, null, null);
        OspreyNative.rename(null);
        System.out.println("traceparentNoTxn=" + OspreyNative.traceparent());
        System.out.println("badKind=" + OspreyNative.begin("x", 9, null));
        System.out.println("nullName=" + OspreyNative.begin(null, 0, null));
        System.out.println("checkKey=" + OspreyNative.checkKey("nope.key", "1") + " " + OspreyNative.lastError());
        System.out.println("checkGood=" + OspreyNative.checkKey("sample.ratio", "0.5"));
        System.out.println("checkBad=" + OspreyNative.checkKey("sample.ratio", "2"));
        System.out.println("sameId=" + (OspreyNative.intern("Check.step") == stepId));
        System.out.println("internNull=" + OspreyNative.intern(null));
        System.out.println("initAgain=" + OspreyNative.init(""));
        int series = OspreyNative.metricSeries("check.gauge", "1", OspreyNative.METRIC_GAUGE | OspreyNative.METRIC_DOUBLE,
                "k", "v");
        System.out.println("seriesOk=" + (series >= 0));
        System.out.println("seriesSame=" + (OspreyNative.metricSeries("check.gauge", "1", 16, "k", "v") == series));
        System.out.println("seriesBadKind=" + OspreyNative.metricSeries("check.bad", "1", 7, null, null));
        System.out.println("seriesNullName=" + OspreyNative.metricSeries(null, "1", 0, null, null));
        System.out.println("metrics=" + OspreyNative.metrics(new int[] {series}, new double[] {0.5}, 1));
        System.out.println("metricsShort=" + OspreyNative.metrics(new int[] {series}, new double[0], 5));
        System.out.println("metricsUndefined=" + OspreyNative.metrics(new int[] {100000}, new double[] {1}, 1));
        System.out.println("metricsNull=" + OspreyNative.metrics(null, null, 1));
        System.out.println("active=" + OspreyNative.active(new String[] {"GET /x"}, new String[] {"main"},
                new long[] {1L}, new long[] {5000000000L}, new String[] {null}, 1));
        System.out.println("activeEmpty=" + OspreyNative.active(new String[0], new String[0], new long[0],
                new long[0], new String[0], 0));
        System.out.println("activeNull=" + OspreyNative.active(null, null, null, null, null, 1));
        System.out.println("flush=" + OspreyNative.flush(5000));
    }
}
