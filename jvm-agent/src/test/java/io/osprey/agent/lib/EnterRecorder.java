package io.osprey.agent.lib;

import java.util.ArrayList;
import java.util.List;

/**
 * A runtime helper for the {@link HelperMethodInstrumentationTest}: {@code enter} keeps what the
 * hook passed it (in order, null included) and returns no handle.
 */
public final class EnterRecorder {
    /** What the {@code enter} calls were given, one list a call. */
    public static final List<List<Object>> ENTERED = new ArrayList<List<Object>>();

    private EnterRecorder() {}

    /** An {@code enter} given one object. */
    public static synchronized long enter(Object a) {
        List<Object> call = new ArrayList<Object>();
        call.add(a);
        ENTERED.add(call);
        return 0L;
    }

    /** An {@code enter} given two objects. */
    public static synchronized long enter(Object a, Object b) {
        List<Object> call = new ArrayList<Object>();
        call.add(a);
        call.add(b);
        ENTERED.add(call);
        return 0L;
    }
}
