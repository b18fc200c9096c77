package io.osprey.agent.lib.webclient;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import io.osprey.agent.lib.httpclient.HttpClients;
import org.objectweb.asm.ClassReader;

/** Spring {@code WebClient} calls as outgoing HTTP steps ({@code instrument.webclient}). */
public final class WebClientLibrary extends Library {
    /** The library, with a fresh transform. */
    public WebClientLibrary() {
        super("webclient", new WebClientInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        HttpClients.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        WebClientInstrumentation.rewrite(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
