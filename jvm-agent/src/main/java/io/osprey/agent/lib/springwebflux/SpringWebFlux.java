package io.osprey.agent.lib.springwebflux;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.lib.springmvc.SpringMvc;
import io.osprey.agent.lib.webflux.Monos;

/**
 * A Spring WebFlux handler method call is a step {@code Controller.method}, as in Spring MVC
 * ({@link SpringMvc#enter}): the {@code Mono<HandlerResult>} of the reactive {@code
 * InvocableHandlerMethod.invoke} is watched ({@link Monos}); the step opens when a thread with
 * the request's transaction subscribes it (WebFlux then resolves the arguments and calls the
 * method, so the method's own steps nest in it) and ends when the result is there: on that
 * thread when it came at once, else, as an asynchronous step, when it comes (arguments that wait
 * for the request body). Nothing here throws.
 */
public final class SpringWebFlux {
    private SpringWebFlux() {}

    /** Exit of {@code invoke}: the Mono, watched; itself outside a transaction or on failure. */
    public static Object wrap(Object mono, Object handlerMethod) {
        if (!Osprey.enabled || mono == null || handlerMethod == null) {
            return mono;
        }
        return Monos.wrap(mono, new Step(handlerMethod));
    }

    /** One handler call's step. */
    static final class Step extends Monos.Watcher {
        private final Object handlerMethod;
        private long handle;
        private Thread thread;
        private boolean subscribing;
        private boolean ended;
        private long cell;
        /** The end came from another thread while this one subscribed: {@link #subscribed} ends it. */
        private boolean endPending;
        private Throwable pendingError;

        Step(Object handlerMethod) {
            this.handlerMethod = handlerMethod;
        }

        @Override
        protected synchronized void subscribing() {
            if (OspreyNative.inTransaction()) {
                handle = SpringMvc.enter(handlerMethod);
                thread = Thread.currentThread();
                subscribing = true;
            }
        }

        @Override
        protected synchronized void subscribed() {
            if (!subscribing || thread != Thread.currentThread()) {
                return;
            }
            subscribing = false;
            if (ended || handle == 0L) {
                return;
            }
            if (endPending) {
                exitHere(pendingError);
                return;
            }
            // Still waiting (for the request body): the step leaves the thread, ends later.
            try {
                cell = OspreyNative.deferEnd(handle);
            } catch (Throwable ignored) {
                cell = 0L;
            }
            Osprey.exit(handle);
            if (cell == 0L) {
                ended = true;
            }
        }

        @Override
        protected synchronized void terminated(Throwable error, boolean cancelled) {
            if (ended || handle == 0L) {
                return;
            }
            if (subscribing) {
                if (thread == Thread.currentThread()) {
                    exitHere(error);
                } else {
                    endPending = true;
                    pendingError = error;
                }
                return;
            }
            if (cell == 0L) {
                return;
            }
            ended = true;
            try {
                OspreyNative.completeDeferred(cell, 0, error == null ? null : error.getClass().getName(),
                        error == null ? null : String.valueOf(error.getMessage()));
            } catch (Throwable ignored) {
                // never into the application
            }
        }

        /** Exits the step on this thread, where it is open. */
        private void exitHere(Throwable error) {
            ended = true;
            if (error != null) {
                Osprey.exitError(error, handle);
            } else {
                Osprey.exit(handle);
            }
        }
    }
}
