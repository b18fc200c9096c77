package io.osprey.agent.lib.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.osprey.agent.TestClasses;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

class RedisInstrumentationTest {
    /** A class named like Jedis's Connection whose executeCommand returns its argument. */
    private static byte[] connection(String name) {
        ClassWriter w = new ClassWriter(ClassWriter.COMPUTE_FRAMES | ClassWriter.COMPUTE_MAXS);
        w.visit(Opcodes.V1_8, Opcodes.ACC_PUBLIC, name, null, "java/lang/Object", null);
        MethodVisitor init = w.visitMethod(Opcodes.ACC_PUBLIC, "<init>", "()V", null, null);
        init.visitCode();
        init.visitVarInsn(Opcodes.ALOAD, 0);
        init.visitMethodInsn(Opcodes.INVOKESPECIAL, "java/lang/Object", "<init>", "()V", false);
        init.visitInsn(Opcodes.RETURN);
        init.visitMaxs(0, 0);
        init.visitEnd();
        MethodVisitor mv = w.visitMethod(Opcodes.ACC_PUBLIC, "executeCommand",
                RedisInstrumentation.EXECUTE_DESC, null, null);
        mv.visitCode();
        mv.visitVarInsn(Opcodes.ALOAD, 1);
        mv.visitInsn(Opcodes.ARETURN);
        mv.visitMaxs(0, 0);
        mv.visitEnd();
        w.visitEnd();
        return w.toByteArray();
    }

    @Test
    void onlyJedisConnectionIsRewrittenAndStillBehaves() throws Exception {
        RedisInstrumentation redis = new RedisInstrumentation();
        assertNull(redis.transform(null, "other/Connection", new ClassReader(connection("other/Connection"))));
        byte[] out = redis.transform(null, RedisInstrumentation.CONNECTION,
                new ClassReader(connection(RedisInstrumentation.CONNECTION)));
        assertNotNull(out);
        // Verified at definition; the command object's class is never loaded by the rewrite.
        String rewritten = new ClassReader(out).getClassName();
        assertEquals(RedisInstrumentation.CONNECTION, rewritten);
        // Instantiating links the class: the verifier accepts the rewritten method.
        Class<?> c = TestClasses.define("redis.clients.jedis.Connection", out);
        assertNotNull(c.getDeclaredConstructor().newInstance());
    }
}
