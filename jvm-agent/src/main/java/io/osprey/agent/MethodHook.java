package io.osprey.agent;

import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * Turns a method body into
 *
 * <pre>
 * long h = Osprey.enter(ID);            // or Osprey.enterTxn(ID, "name")
 * try { body; Osprey.exit(h); return; }
 * catch (Throwable t) { Osprey.exitError(t, h); throw t; }
 * </pre>
 *
 * The handler's frame lists only the handle (every other local as TOP), so it is valid whatever
 * the body keeps in its locals, and no type needs resolving.
 */
final class MethodHook extends AdviceAdapter {
    private static final String OSPREY = "io/osprey/agent/bootstrap/Osprey";

    private final int nameId;
    private final String txnName;
    private final boolean frames;
    private final Label start = new Label();
    private final Label handler = new Label();
    private int handle = -1;

    MethodHook(MethodVisitor mv, int access, String name, String desc, int nameId, String txnName,
            boolean frames) {
        super(Opcodes.ASM9, mv, access, name, desc);
        this.nameId = nameId;
        this.txnName = txnName;
        this.frames = frames;
    }

    @Override
    protected void onMethodEnter() {
        push(nameId);
        if (txnName != null) {
            push(txnName);
            visitMethodInsn(INVOKESTATIC, OSPREY, "enterTxn", "(ILjava/lang/String;)J", false);
        } else {
            visitMethodInsn(INVOKESTATIC, OSPREY, "enter", "(I)J", false);
        }
        handle = newLocal(Type.LONG_TYPE);
        storeLocal(handle);
        visitLabel(start);
    }

    @Override
    protected void onMethodExit(int opcode) {
        if (opcode != ATHROW) {
            loadLocal(handle);
            visitMethodInsn(INVOKESTATIC, OSPREY, "exit", "(J)V", false);
        }
    }

    @Override
    public void visitMaxs(int maxStack, int maxLocals) {
        visitLabel(handler);
        if (frames) {
            Object[] locals = new Object[handle + 1];
            for (int i = 0; i < handle; i++) {
                locals[i] = Opcodes.TOP;
            }
            locals[handle] = Opcodes.LONG;
            // Straight to the next visitor: these are final slot numbers, not to be remapped.
            mv.visitFrame(Opcodes.F_NEW, locals.length, locals, 1, new Object[] {"java/lang/Throwable"});
        }
        dup();
        loadLocal(handle);
        visitMethodInsn(INVOKESTATIC, OSPREY, "exitError", "(Ljava/lang/Throwable;J)V", false);
        visitInsn(ATHROW);
        visitTryCatchBlock(start, handler, handler, null);
        super.visitMaxs(maxStack, maxLocals);
    }
}
