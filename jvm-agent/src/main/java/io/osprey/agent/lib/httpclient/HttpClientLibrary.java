package io.osprey.agent.lib.httpclient;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import java.lang.instrument.Instrumentation;

/**
 * Outgoing HTTP ({@code instrument.http_client}): Apache HttpClient 4/5 through the main
 * transformer, the JDK's {@code HttpURLConnection} and {@code HttpClient} through a
 * retransformation-capable transformer of their own; one runtime ({@link HttpClients}).
 */
public final class HttpClientLibrary extends Library {
    /** The library, with a fresh transform. */
    public HttpClientLibrary() {
        super("http_client", new ApacheHttpInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        HttpClients.init();
        return null;
    }

    @Override
    public void install(Instrumentation inst) {
        JdkHttpInstrumentation.warmUp();
        new JdkHttpInstrumentation().install(inst);
    }

    @Override
    public void warmUp(byte[] code, String self) {
        instrumentation().transform(null, "io/osprey/agent/Warmup", new org.objectweb.asm.ClassReader(code));
    }
}
