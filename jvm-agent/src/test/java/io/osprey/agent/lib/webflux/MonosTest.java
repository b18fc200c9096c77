package io.osprey.agent.lib.webflux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.util.context.Context;

/** {@link Monos} on real Reactor Monos. */
class MonosTest {
    /** Records what it hears, with the thread of each call. */
    static final class Recorder extends Monos.Watcher {
        final List<String> events = Collections.synchronizedList(new ArrayList<String>());
        final CountDownLatch ended = new CountDownLatch(1);
        volatile Thread subscribingThread;
        volatile Thread endThread;
        volatile Throwable error;

        @Override
        protected void subscribing() {
            subscribingThread = Thread.currentThread();
            events.add("subscribing");
        }

        @Override
        protected void subscribed() {
            events.add("subscribed");
        }

        @Override
        protected void next(Object value) {
            events.add("next " + value);
        }

        @Override
        protected void terminated(Throwable error, boolean cancelled) {
            this.error = error;
            endThread = Thread.currentThread();
            events.add(cancelled ? "cancelled" : error == null ? "completed" : "failed");
            ended.countDown();
        }
    }

    @SuppressWarnings("unchecked")
    static <T> Mono<T> watched(Mono<T> mono, Monos.Watcher w) {
        Object wrapped = Monos.wrap(mono, w);
        assertNotSame(mono, wrapped, "a Mono is wrapped");
        return (Mono<T>) wrapped;
    }

    @Test
    void aValueIsHeardWhileTheSubscribingThreadIsInside() {
        Recorder r = new Recorder();
        assertEquals("x", watched(Mono.just("x"), r).block());
        assertEquals(java.util.Arrays.asList("subscribing", "next x", "completed", "subscribed"), r.events);
        assertSame(r.subscribingThread, r.endThread);
    }

    @Test
    void aFailureIsHeardBeforeItGoesOn() {
        Recorder r = new Recorder();
        IllegalStateException boom = new IllegalStateException("boom");
        IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> watched(Mono.<String>error(boom), r).block());
        assertSame(boom, thrown);
        assertSame(boom, r.error);
        assertTrue(r.events.contains("failed"), r.events.toString());
    }

    @Test
    void aCancellationEndsTheWatchOnce() {
        Recorder r = new Recorder();
        Disposable d = watched(Mono.<String>never(), r).subscribe();
        assertEquals(java.util.Arrays.asList("subscribing", "subscribed"), r.events);
        d.dispose();
        d.dispose();
        assertEquals(java.util.Arrays.asList("subscribing", "subscribed", "cancelled"), r.events);
    }

    @Test
    void theSubscribersContextStillReachesTheSource() {
        Recorder r = new Recorder();
        Mono<String> source = Mono.deferContextual(ctx -> Mono.just(ctx.<String>get("user")));
        assertEquals("ada", watched(source, r).contextWrite(Context.of("user", "ada")).block());
        assertTrue(r.events.contains("completed"));
    }

    @Test
    void anEndOnAnotherThreadIsHeardThere() throws InterruptedException {
        Scheduler single = Schedulers.newSingle("monos-test");
        try {
            Recorder r = new Recorder();
            Mono<String> source = Mono.fromCallable(() -> Thread.currentThread().getName()).subscribeOn(single);
            String ran = watched(source, r).block();
            assertTrue(r.ended.await(30, TimeUnit.SECONDS));
            assertTrue(ran.startsWith("monos-test"), ran);
            assertEquals(ran, r.endThread.getName());
            assertTrue(r.events.indexOf("subscribed") >= 0);
        } finally {
            single.dispose();
        }
    }

    @Test
    void onlyTheFirstSubscriptionIsWatched() {
        Recorder r = new Recorder();
        Mono<Integer> mono = watched(Mono.just(1), r);
        assertEquals(1, mono.block());
        assertEquals(1, mono.block());
        assertEquals(4, r.events.size(), r.events.toString());
    }

    @Test
    void whatIsNoMonoIsLeftAlone() {
        Recorder r = new Recorder();
        assertSame("text", Monos.wrap("text", r));
        assertNull(Monos.wrap(null, r));
        assertTrue(r.events.isEmpty());
    }
}
