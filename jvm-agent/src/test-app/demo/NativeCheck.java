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
        System.out.println("traceparent=" + OspreyNative.traceparent());
        OspreyNative.error(0, "java.io.IOException", "disk full", "at demo.NativeCheck.main\n");
        OspreyNative.exit(h);
        OspreyNative.rename("GET /renamed");
        System.out.println("end=" + OspreyNative.end());
        System.out.println("endAgain=" + OspreyNative.end());
        System.out.println("enterNoTxn=" + OspreyNative.enter(stepId, 0));
        OspreyNative.exit(0);
        OspreyNative.attrStr(0, stepId, "ignored");
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
        System.out.println("flush=" + OspreyNative.flush(5000));
    }
}
