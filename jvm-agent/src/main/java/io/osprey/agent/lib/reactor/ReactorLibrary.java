package io.osprey.agent.lib.reactor;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import java.util.Collections;
import org.objectweb.asm.ClassReader;

/**
 * Reactor signals run in the transaction of the subscription they belong to ({@code
 * instrument.reactor}): a WebClient response's {@code map}/{@code flatMap} on a Netty thread, work
 * after a {@code Mono.delay}, a request body read later.
 */
public final class ReactorLibrary extends Library {
    /** The library, with a fresh transform. */
    public ReactorLibrary() {
        super("reactor", new ReactorInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Reactors.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        ReactorInstrumentation.declaresAny(new ClassReader(code), ReactorInstrumentation.SUBSCRIBER);
        ReactorInstrumentation.rewriteSubscriber(new ClassReader(code),
                Collections.singleton("execute(Ljava/lang/Runnable;)V"));
    }
}
