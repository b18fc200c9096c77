package io.osprey.agent.lib.logs;

import io.osprey.agent.ClassRewriter;
import io.osprey.agent.ClassRewriter.MethodAdapter;
import io.osprey.agent.lib.LibraryInstrumentation;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Where log events get their context data: Logback's {@code LoggingEvent.getMDCPropertyMap()}
 * returns (and keeps, in its {@code mdcPropertyMap} field) {@link Logs#logback} of its map; Log4j
 * 2's {@code ThreadContextDataInjector} implementations return {@link Logs#log4j} of their
 * result. Classes without the expected field or method are left alone.
 */
public final class LogsInstrumentation extends LibraryInstrumentation {
    static final String LOGS = "io/osprey/agent/lib/logs/Logs";
    static final String LOGBACK_EVENT = "ch/qos/logback/classic/spi/LoggingEvent";
    static final String LOGBACK_FIELD = "mdcPropertyMap";
    static final String LOG4J_INJECTORS = "org/apache/logging/log4j/core/impl/ThreadContextDataInjector$";
    static final String STRING_MAP = "Lorg/apache/logging/log4j/util/StringMap;";
    static final String INJECT_DESC = "(Ljava/util/List;" + STRING_MAP + ")" + STRING_MAP;

    @Override
    public byte[] transform(ClassLoader loader, String internalName, ClassReader reader) {
        if (internalName.equals(LOGBACK_EVENT)) {
            return hasField(reader, LOGBACK_FIELD, "Ljava/util/Map;") ? rewriteLogback(reader) : null;
        }
        if (internalName.startsWith(LOG4J_INJECTORS)) {
            return rewriteLog4j(reader);
        }
        return null;
    }

    static boolean hasField(ClassReader reader, final String field, final String desc) {
        final boolean[] found = {false};
        reader.accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public FieldVisitor visitField(int access, String name, String d, String signature, Object value) {
                found[0] |= name.equals(field) && d.equals(desc) && (access & Opcodes.ACC_STATIC) == 0;
                return null;
            }
        }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
        return found[0];
    }

    /** {@code getMDCPropertyMap()}: {@code return this.mdcPropertyMap = Logs.logback(result);}. */
    static byte[] rewriteLogback(ClassReader reader) {
        final String owner = reader.getClassName();
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!name.equals("getMDCPropertyMap") || !desc.equals("()Ljava/util/Map;")
                        || (access & Opcodes.ACC_STATIC) != 0) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            visitMethodInsn(INVOKESTATIC, LOGS, "logback", "(Ljava/util/Map;)Ljava/util/Map;", false);
                            dup();
                            loadThis();
                            swap();
                            visitFieldInsn(PUTFIELD, owner, LOGBACK_FIELD, "Ljava/util/Map;");
                        }
                    }
                };
            }
        });
    }

    /** {@code injectContextData(properties, reusable)}: returns {@code Logs.log4j(result, reusable)}. */
    static byte[] rewriteLog4j(ClassReader reader) {
        return ClassRewriter.rewrite(reader, new MethodAdapter() {
            @Override
            public MethodVisitor adapt(MethodVisitor mv, int access, String name, String desc, boolean frames) {
                if (!name.equals("injectContextData") || !desc.equals(INJECT_DESC)
                        || (access & (Opcodes.ACC_STATIC | Opcodes.ACC_ABSTRACT | Opcodes.ACC_BRIDGE)) != 0) {
                    return null;
                }
                return new AdviceAdapter(Opcodes.ASM9, mv, access, name, desc) {
                    @Override
                    protected void onMethodExit(int opcode) {
                        if (opcode == ARETURN) {
                            loadArg(1);
                            visitMethodInsn(INVOKESTATIC, LOGS, "log4j",
                                    "(Ljava/lang/Object;Ljava/lang/Object;)Ljava/lang/Object;", false);
                            checkCast(org.objectweb.asm.Type.getType(STRING_MAP));
                        }
                    }
                };
            }
        });
    }
}
