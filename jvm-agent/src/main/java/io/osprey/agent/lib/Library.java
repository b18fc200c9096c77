package io.osprey.agent.lib;

import java.lang.instrument.Instrumentation;
import java.util.Collections;
import java.util.List;

/**
 * One instrumented library: its switch, its configuration keys, its class transform, the
 * start of its runtime helper and its warm-up. Every library is registered once, in {@link
 * Libraries#ALL}, which the agent (start-up and transformer), the warm-up and the configuration
 * (the keys the agent consumes) all read: adding a library is one package and one line there.
 *
 * <p>Layout of a library package {@code io.osprey.agent.lib.NAME}: the classes named {@code
 * *Library} and {@code *Instrumentation} (and their nested classes) run in the agent (they may use
 * ASM); every other class of the package is its runtime helper, which the build moves into the
 * bootstrap jar on the boot class path so injected code in any class loader links to one copy.
 * Runtime classes therefore never reference ASM or the agent's classes, and the agent side calls
 * only their public members (at run time the two halves of the package are in different loaders).
 * {@code LayoutTest} checks both rules on the compiled classes.
 */
public abstract class Library {
    private final String name;
    private final LibraryInstrumentation instrumentation;

    /**
     * A library named {@code name} (its switch is {@code instrument.<name>}) whose classes
     * {@code instrumentation} transforms (null: none, through the main transformer).
     */
    protected Library(String name, LibraryInstrumentation instrumentation) {
        this.name = name;
        this.instrumentation = instrumentation;
    }

    /** The short name; the switch is {@code instrument.<name>}. */
    public final String name() {
        return name;
    }

    /** {@code instrument.<name>}: {@code false} switches the library off. */
    public final String switchKey() {
        return "instrument." + name();
    }

    /** Further configuration keys this library reads (besides its switch). */
    public List<String> keys() {
        return Collections.emptyList();
    }

    /**
     * Starts the runtime helper once the recorder runs and before any transaction (interns its
     * attribute keys, applies its settings). Returns a complaint about a malformed setting, or
     * null. Called only when the library is switched on.
     */
    public String start(Settings settings) {
        return null;
    }

    /** The transform the agent's main transformer asks for each class; null for none. */
    public final LibraryInstrumentation instrumentation() {
        return instrumentation;
    }

    /**
     * Installs transformers of its own (platform classes that need retransformation); called
     * after {@link #start}, when the library is switched on.
     */
    public void install(Instrumentation inst) {}

    /**
     * Runs its rewrites once on the agent's warm-up class ({@code code}, whose methods have the
     * shapes of the library's targets with {@code self}, the warm-up class's descriptor, for every
     * library type), so that every class the rewrites need is loaded before the first transform.
     */
    public abstract void warmUp(byte[] code, String self);
}
