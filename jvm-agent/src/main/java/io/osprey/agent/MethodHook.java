package io.osprey.agent;

import org.objectweb.asm.MethodVisitor;

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
 * the body keeps in its locals, and no type needs resolving (see {@link AroundHook}).
 */
final class MethodHook extends AroundHook {
    private static final String OSPREY = "io/osprey/agent/bootstrap/Osprey";

    private final int nameId;
    private final String txnName;

    MethodHook(MethodVisitor mv, int access, String name, String desc, int nameId, String txnName,
            boolean frames) {
        super(mv, access, name, desc, frames);
        this.nameId = nameId;
        this.txnName = txnName;
    }

    @Override
    protected void emitEnter() {
        push(nameId);
        if (txnName != null) {
            push(txnName);
            visitMethodInsn(INVOKESTATIC, OSPREY, "enterTxn", "(ILjava/lang/String;)J", false);
        } else {
            visitMethodInsn(INVOKESTATIC, OSPREY, "enter", "(I)J", false);
        }
    }

    @Override
    protected void emitExit() {
        visitMethodInsn(INVOKESTATIC, OSPREY, "exit", "(J)V", false);
    }

    @Override
    protected void emitExitError() {
        visitMethodInsn(INVOKESTATIC, OSPREY, "exitError", "(Ljava/lang/Throwable;J)V", false);
    }
}
