package io.osprey.agent;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import java.io.File;
import java.lang.instrument.Instrumentation;
import io.osprey.agent.lib.Libraries;
import io.osprey.agent.lib.Library;
import io.osprey.agent.lib.LibraryInstrumentation;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Loads the configuration and libosprey, starts the recorder and installs the hooks. */
final class Agent {
    private Agent() {}

    static void start(String args, Instrumentation inst, File agentJar) throws Exception {
        AgentConfig cfg = AgentConfig.load(args, agentJar);
        if (!cfg.enabled()) {
            return;
        }
        String lib = cfg.get(AgentConfig.NATIVE_PATH);
        boolean extracted = false;
        if (lib != null && !new File(lib).isFile()) {
            // Checked before touching the boot class path: the application runs exactly as without us.
            System.err.println("osprey: agent disabled: native library " + lib + " (osprey.native.path) not found");
            return;
        }
        File tmpDir = AgentPremain.appendBootstrap(inst);
        JBossModules.delegateBridge();
        try {
            if (lib == null) {
                File so = new File(tmpDir, "libosprey.so");
                AgentPremain.copyResource("/osprey-native/linux-x86_64/libosprey.so", so);
                lib = so.getAbsolutePath();
                extracted = true;
            }
            NativeAccess.enable(inst);
            OspreyNative.load(new File(lib).getAbsolutePath());
        } catch (Throwable t) {
            System.err.println("osprey: agent disabled: cannot load native library " + lib + ": "
                    + AgentPremain.oneLine(t));
            return;
        } finally {
            if (extracted) {
                // Mapped already: the file is no longer needed.
                new File(lib).delete();
            }
        }
        StringBuilder pairs = new StringBuilder();
        // process.runtime.* of this JVM (the native library names no runtime of its own);
        // the user's items come after and win.
        String[][] runtime = {
            {"process.runtime.name", System.getProperty("java.runtime.name")},
            {"process.runtime.version", System.getProperty("java.runtime.version")},
            {"process.runtime.description", System.getProperty("java.vm.vendor") + " "
                    + System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version")},
        };
        for (String[] item : runtime) {
            if (item[1] != null && OspreyNative.checkKey(item[0], item[1]) == OspreyNative.OK) {
                pairs.append(item[0]).append('=').append(item[1].replaceAll("[;\\r\\n]", " ")).append(';');
            }
        }
        for (Map.Entry<String, String> e : cfg.recorderItems().entrySet()) {
            if (OspreyNative.checkKey(e.getKey(), e.getValue()) != OspreyNative.OK) {
                System.err.println("osprey: ignoring configuration: " + OspreyNative.lastError());
                continue;
            }
            pairs.append(e.getKey()).append('=').append(e.getValue()).append(';');
        }
        int rc = OspreyNative.init(pairs.toString());
        if (rc != OspreyNative.OK) {
            System.err.println("osprey: agent disabled: " + OspreyNative.lastError());
            return;
        }
        Osprey.setTxnKind("server".equalsIgnoreCase(cfg.get(AgentConfig.TXN_KIND))
                ? OspreyNative.TXN_SERVER
                : OspreyNative.TXN_INTERNAL);
        List<Library> libraries = Libraries.enabled(cfg);
        for (Library library : libraries) {
            String complaint = library.start(cfg);
            if (complaint != null) {
                System.err.println("osprey: ignoring configuration: " + complaint);
            }
        }
        Osprey.enabled = true;
        Inspector.install(cfg, inst);
        final int timeoutMs = cfg.shutdownTimeoutMs();
        Runtime.getRuntime().addShutdownHook(new Thread("osprey-shutdown") {
            @Override
            public void run() {
                try {
                    Osprey.enabled = false;
                    OspreyNative.shutdown(timeoutMs);
                } catch (Throwable ignored) {
                    // the application is exiting: nothing to report
                }
            }
        });
        Hooks hooks = Hooks.from(cfg);
        List<LibraryInstrumentation> transforms = new ArrayList<LibraryInstrumentation>();
        for (Library library : libraries) {
            LibraryInstrumentation t = library.instrumentation();
            if (t != null) {
                transforms.add(t);
            }
            library.install(inst);
        }
        if (!hooks.isEmpty() || !transforms.isEmpty()) {
            HookTransformer transformer = new HookTransformer(hooks, transforms);
            transformer.warmUp(libraries);
            inst.addTransformer(transformer, false);
        }
    }
}
