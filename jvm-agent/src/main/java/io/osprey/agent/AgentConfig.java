package io.osprey.agent;

import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * The agent's configuration, merged from (lowest to highest precedence): an {@code
 * osprey.properties} file, {@code OSPREY_*} environment variables (agent keys here; the recorder
 * reads its own, and {@code OTEL_SERVICE_NAME} / {@code OTEL_EXPORTER_OTLP_*}, itself), {@code
 * -Dosprey.*} system properties, and the agent arguments {@code key=value,key=value}. Keys may be
 * written with or without the {@code osprey.} prefix. Keys the agent does not know go to the
 * recorder, which names any key it does not know either.
 */
final class AgentConfig implements io.osprey.agent.lib.Settings {
    static final String ENABLED = "enabled";
    static final String CONFIG = "config";
    static final String NATIVE_PATH = "native.path";
    static final String HOOK_METHODS = "hook.methods";
    static final String HOOK_EXCLUDE = "hook.exclude";
    static final String HOOK_TRANSACTIONS = "hook.transactions";
    static final String HOOK_NONPUBLIC = "hook.nonpublic";
    static final String TXN_KIND = "hook.transaction.kind";
    static final String INSPECTOR = "inspector";
    static final String INSPECTOR_INTERVAL = "inspector.interval_ms";
    static final String INSPECTOR_DELAY = "inspector.delay_ms";
    static final String ACTIVE = "active";
    static final String ACTIVE_STACK_THRESHOLD = "active.stack_threshold_ms";

    /** The recorder's call-tree budget, which the agent gives a default of its own. */
    static final String TREES_PER_SECOND = "sample.trees_per_second";

    /**
     * Ordinary call trees kept per second unless configured: every tree up to this rate; past
     * it every transaction is still recorded and counted, without its steps (errors, slow and
     * propagated traces keep theirs). An agent inside an application it does not know bounds
     * what it costs at any request rate; the Rust and C front doors default to no limit.
     */
    static final String DEFAULT_TREES_PER_SECOND = "1000";

    /**
     * Keys the Java agent consumes: its own, and every library's switch and keys (from the one
     * list, {@link io.osprey.agent.lib.Libraries}); all others are the recorder's.
     */
    static final Set<String> AGENT_KEYS = agentKeys();

    private static Set<String> agentKeys() {
        Set<String> keys = new HashSet<String>(Arrays.asList(
                ENABLED, CONFIG, NATIVE_PATH, HOOK_METHODS, HOOK_EXCLUDE, HOOK_TRANSACTIONS,
                HOOK_NONPUBLIC, TXN_KIND, INSPECTOR, INSPECTOR_INTERVAL, INSPECTOR_DELAY, ACTIVE,
                ACTIVE_STACK_THRESHOLD));
        keys.addAll(io.osprey.agent.lib.Libraries.keys());
        return keys;
    }

    private final Map<String, String> values;

    AgentConfig(Map<String, String> values) {
        this.values = values;
    }

    static AgentConfig load(String args, File agentJar) {
        return load(args, agentJar, System.getenv(), System.getProperties());
    }

    static AgentConfig load(String args, File agentJar, Map<String, String> env, Properties sys) {
        Map<String, String> fromArgs = parseArgs(args);
        Map<String, String> fromSys = new LinkedHashMap<String, String>();
        for (String name : sys.stringPropertyNames()) {
            if (name.startsWith("osprey.")) {
                fromSys.put(normalize(name), sys.getProperty(name).trim());
            }
        }
        Map<String, String> fromEnv = new LinkedHashMap<String, String>();
        for (String key : AGENT_KEYS) {
            String v = env.get("OSPREY_" + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_'));
            if (v != null) {
                fromEnv.put(key, v.trim());
            }
        }
        String file = first(fromArgs.get(CONFIG), fromSys.get(CONFIG), fromEnv.get(CONFIG));
        Map<String, String> merged = new LinkedHashMap<String, String>();
        File props = file != null ? new File(file)
                : agentJar == null ? null : new File(agentJar.getParentFile(), "osprey.properties");
        if (props != null && props.isFile()) {
            merged.putAll(readProperties(props));
        } else if (file != null) {
            System.err.println("osprey: configuration file not found: " + file);
        }
        merged.putAll(fromEnv);
        merged.putAll(fromSys);
        merged.putAll(fromArgs);
        // The recorder reads its own OSPREY_* variables; one set there keeps its value.
        if (!merged.containsKey(TREES_PER_SECOND) && env.get("OSPREY_SAMPLE_TREES_PER_SECOND") == null) {
            merged.put(TREES_PER_SECOND, DEFAULT_TREES_PER_SECOND);
        }
        return new AgentConfig(merged);
    }

    /**
     * Parses {@code key=value,key=value} (also {@code ;}). An item without {@code =} continues the
     * previous value, so {@code hook.methods=a.*,b.*} keeps both patterns.
     */
    static Map<String, String> parseArgs(String args) {
        Map<String, String> out = new LinkedHashMap<String, String>();
        if (args == null) {
            return out;
        }
        String last = null;
        for (String item : args.split("[,;]")) {
            String s = item.trim();
            if (s.isEmpty()) {
                continue;
            }
            int eq = s.indexOf('=');
            if (eq < 0) {
                if (last != null) {
                    out.put(last, out.get(last) + "," + s);
                } else {
                    System.err.println("osprey: ignoring agent argument without '=': " + s);
                }
                continue;
            }
            last = normalize(s.substring(0, eq).trim());
            out.put(last, s.substring(eq + 1).trim());
        }
        return out;
    }

    private static Map<String, String> readProperties(File f) {
        Map<String, String> out = new LinkedHashMap<String, String>();
        Properties p = new Properties();
        try (InputStream in = new FileInputStream(f)) {
            p.load(in);
        } catch (Exception e) {
            System.err.println("osprey: cannot read " + f + ": " + AgentPremain.oneLine(e));
            return out;
        }
        for (String name : p.stringPropertyNames()) {
            out.put(normalize(name), p.getProperty(name).trim());
        }
        return out;
    }

    static String normalize(String key) {
        return key.startsWith("osprey.") ? key.substring("osprey.".length()) : key;
    }

    private static String first(String... values) {
        for (String v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    @Override
    public String get(String key) {
        String v = values.get(key);
        return v == null || v.isEmpty() ? null : v;
    }

    boolean enabled() {
        return !"false".equalsIgnoreCase(get(ENABLED));
    }

    @Override
    public boolean flagOn(String key) {
        return !"false".equalsIgnoreCase(get(key));
    }

    boolean flag(String key) {
        return "true".equalsIgnoreCase(get(key));
    }

    /** A non-negative whole number, or {@code fallback} when unset or not a number (named once). */
    long number(String key, long fallback) {
        String v = get(key);
        if (v == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(v);
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        System.err.println("osprey: ignoring configuration: " + key + "=" + v + " is not a whole number >= 0");
        return fallback;
    }

    int shutdownTimeoutMs() {
        try {
            String v = get("shutdown.timeout_ms");
            return v == null ? 5000 : Integer.parseInt(v);
        } catch (NumberFormatException e) {
            return 5000;
        }
    }

    /** The items for the recorder (everything the agent does not consume), in order. */
    Map<String, String> recorderItems() {
        Map<String, String> out = new LinkedHashMap<String, String>();
        for (Map.Entry<String, String> e : values.entrySet()) {
            if (!AGENT_KEYS.contains(e.getKey())) {
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }
}
