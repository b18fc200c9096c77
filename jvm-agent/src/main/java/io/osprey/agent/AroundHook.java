package io.osprey.agent;

import org.objectweb.asm.Label;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.AdviceAdapter;

/**
 * The bytecode of {@link MethodHook} and the library instrumentations: {@code long h = <enter>;
 * try { body; <exit(h)>; } catch (Throwable t) { <exitError(t, h)>; throw t; }}, where each call
 * is a static method of the bootstrap bridge that never throws. The handler's frame lists only
 * the handle (every other local as TOP), so it is valid whatever the body keeps in its locals.
 */
public abstract class AroundHook extends AdviceAdapter {
    private final boolean frames;
    private final Label start = new Label();
    private final Label handler = new Label();
    private int handle = -1;

    protected AroundHook(MethodVisitor mv, int access, String name, String desc, boolean frames) {
        super(Opcodes.ASM9, mv, access, name, desc);
        this.frames = frames;
    }

    /** Leaves the handle (a long) on the stack. */
    protected abstract void emitEnter();

    /**
     * The handle is on the stack (above the returned reference when {@link #wantsResult} says
     * so); consumes it (and the copy of the result).
     */
    protected abstract void emitExit();

    /** True to find a copy of the returned reference under the handle in {@link #emitExit}. */
    protected boolean wantsResult() {
        return false;
    }

    /** The throwable and the handle are on the stack; consumes both. */
    protected abstract void emitExitError();

    @Override
    protected void onMethodEnter() {
        emitEnter();
        handle = newLocal(Type.LONG_TYPE);
        storeLocal(handle);
        visitLabel(start);
    }

    @Override
    protected void onMethodExit(int opcode) {
        if (opcode != ATHROW) {
            if (opcode == ARETURN && wantsResult()) {
                dup();
            }
            loadLocal(handle);
            emitExit();
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
        emitExitError();
        visitInsn(ATHROW);
        visitTryCatchBlock(start, handler, handler, null);
        super.visitMaxs(maxStack, maxLocals);
    }
}
