package io.osprey.agent.lib.redis;

import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.Settings;
import org.objectweb.asm.ClassReader;

/** Redis commands through Jedis and Lettuce ({@code instrument.redis}). */
public final class RedisLibrary extends Library {
    /** The library, with a fresh transform. */
    public RedisLibrary() {
        super("redis", new RedisInstrumentation());
    }

    @Override
    public String start(Settings settings) {
        Redis.init();
        return null;
    }

    @Override
    public void warmUp(byte[] code, String self) {
        // The warm-up class's execute(String) stands in for executeCommand(CommandObject).
        RedisInstrumentation.rewrite(new ClassReader(code), "execute", "(Ljava/lang/String;)Z");
        RedisInstrumentation.rewriteDispatch(new ClassReader(code), "apply", "(" + self + ")" + self);
    }
}
