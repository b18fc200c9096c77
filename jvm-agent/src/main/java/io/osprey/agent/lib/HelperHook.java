package io.osprey.agent.lib;

import io.osprey.agent.AroundHook;
import org.objectweb.asm.MethodVisitor;

/**
 * The around-hook most library instrumentations inject: {@code long h = HELPER.enter(<args>); try
 * { body; HELPER.exit(h); } catch (Throwable t) { HELPER.exitError(t, h); throw t; }}, where
 * {@code HELPER} is the library's runtime class (its {@code exit(J)V} and {@code
 * exitError(Ljava/lang/Throwable;J)V} never throw). Subclasses push {@code enter}'s arguments.
 */
public abstract class HelperHook extends AroundHook {
    private final String helper;
    private final String enterDesc;
    private final String exits;

    /**
     * A hook calling {@code helper}'s ({@code io/osprey/agent/lib/NAME/Class}) {@code enter} of
     * descriptor {@code enterDesc} (returning the handle, a long).
     */
    protected HelperHook(MethodVisitor mv, int access, String name, String desc, boolean frames, String helper,
            String enterDesc) {
        this(mv, access, name, desc, frames, helper, enterDesc, helper);
    }

    /**
     * As above, with {@code exit} and {@code exitError} called on {@code exits} instead (the
     * bridge's {@link LibraryInstrumentation#OSPREY} where the helper's would only pass the
     * handle on).
     */
    protected HelperHook(MethodVisitor mv, int access, String name, String desc, boolean frames, String helper,
            String enterDesc, String exits) {
        super(mv, access, name, desc, frames);
        this.helper = helper;
        this.enterDesc = enterDesc;
        this.exits = exits;
    }

    /** Pushes the arguments of {@code enter} ({@code loadThis()}, {@code loadArg(0)}, a constant). */
    protected abstract void pushEnterArgs();

    @Override
    protected final void emitEnter() {
        pushEnterArgs();
        visitMethodInsn(INVOKESTATIC, helper, "enter", enterDesc, false);
    }

    @Override
    protected final void emitExit() {
        visitMethodInsn(INVOKESTATIC, exits, "exit", "(J)V", false);
    }

    @Override
    protected final void emitExitError() {
        visitMethodInsn(INVOKESTATIC, exits, "exitError", "(Ljava/lang/Throwable;J)V", false);
    }
}
