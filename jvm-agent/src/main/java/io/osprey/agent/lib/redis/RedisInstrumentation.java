package io.osprey.agent.lib.redis;

import io.osprey.agent.lib.HelperHook;
import io.osprey.agent.AroundHook;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.MethodVisitor;

/**
 * Lettuce (5 and later): {@code AbstractRedisAsyncCommands.dispatch(RedisCommand)}, which every
 * command of the synchronous, asynchronous and reactive APIs goes through on the calling thread,
 * becomes a step whose end comes when the command completes ({@link Redis#lettuceEnter}, {@link
 * Redis#lettuceExit}).
 *
 * <p>Jedis (4 and later): {@code redis.clients.jedis.Connection.executeCommand(CommandObject)}, which
 * every synchronous command of {@code Jedis}, {@code JedisPooled} and {@code UnifiedJedis} goes
 * through, becomes a step named with the command ({@link Redis#enter}). Pipelined and
 * transaction ({@code MULTI}) commands, sent without waiting for their replies, are not steps.
 */
public final class RedisInstrumentation extends LibraryInstrumentation {
    static final String CONNECTION = "redis/clients/jedis/Connection";
    static final String EXECUTE_DESC = "(Lredis/clients/jedis/CommandObject;)Ljava/lang/Object;";
    static final String REDIS = "io/osprey/agent/lib/redis/Redis";
    static final String LETTUCE = "io/lettuce/core/AbstractRedisAsyncCommands";
    static final String DISPATCH_DESC = "(Lio/lettuce/core/protocol/RedisCommand;)Lio/lettuce/core/protocol/AsyncCommand;";

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (LETTUCE.equals(internalName)) {
            return rewriteDispatch(reader, "dispatch", DISPATCH_DESC);
        }
        return CONNECTION.equals(internalName) ? rewrite(reader, "executeCommand", EXECUTE_DESC) : null;
    }

    /**
     * Wraps the instance method {@code method(desc)}, whose first argument is the command and
     * whose result completes with it, as a step ended by that completion; {@code this} (the
     * commands object) leads to the server.
     */
    public static byte[] rewriteDispatch(ClassReader reader, final String method, final String methodDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)) {
                    return null;
                }
                return new AroundHook(mv, access, name, desc, frames) {
                    @Override
                    protected void emitEnter() {
                        loadThis();
                        loadArg(0);
                        visitMethodInsn(INVOKESTATIC, REDIS, "lettuceEnter", "(Ljava/lang/Object;Ljava/lang/Object;)J",
                                false);
                    }

                    @Override
                    protected boolean wantsResult() {
                        return true;
                    }

                    @Override
                    protected void emitExit() {
                        visitMethodInsn(INVOKESTATIC, REDIS, "lettuceExit", "(Ljava/lang/Object;J)V", false);
                    }

                    @Override
                    protected void emitExitError() {
                        visitMethodInsn(INVOKESTATIC, REDIS, "exitError", "(Ljava/lang/Throwable;J)V", false);
                    }
                };
            }
        });
    }

    /** Wraps the method {@code method(desc)}, whose first argument is the command, as a step. */
    public static byte[] rewrite(ClassReader reader, final String method, final String methodDesc) {
        return rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!method.equals(name) || !methodDesc.equals(desc)) {
                    return null;
                }
                return new HelperHook(mv, access, name, desc, frames, REDIS, "(Ljava/lang/Object;Ljava/lang/Object;)J") {
                    @Override
                    protected void pushEnterArgs() {
                        loadThis();
                        loadArg(0);
                    }
                };
            }
        });
    }
}
