package io.osprey.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class ConfigTest {
    @Test
    void httpClientSwitchIsAnAgentKeyAndOnByDefault() {
        Map<String, String> env = new HashMap<String, String>();
        env.put("OSPREY_INSTRUMENT_HTTP_CLIENT", "false");
        AgentConfig off = AgentConfig.load(null, null, env, new Properties());
        assertFalse(off.flagOn("instrument.http_client"));
        assertFalse(off.recorderItems().containsKey("instrument.http_client"));
        AgentConfig on = AgentConfig.load("service.name=x", null, new HashMap<String, String>(), new Properties());
        assertTrue(on.flagOn("instrument.http_client"));
    }

    @Test
    void everyLibraryKeyIsTheAgentsNotTheRecorders() {
        Map<String, String> env = new HashMap<String, String>();
        env.put("OSPREY_URL_NORMALIZE", "/files/*");
        AgentConfig cfg = AgentConfig.load("instrument.jaxrs=false,http.endpoints.max=5,service.name=x", null, env,
                new Properties());
        for (String key : io.osprey.agent.lib.Libraries.keys()) {
            assertTrue(AgentConfig.AGENT_KEYS.contains(key), key);
        }
        assertEquals("/files/*", cfg.get("url.normalize"));
        assertEquals("5", cfg.get("http.endpoints.max"));
        assertFalse(cfg.flagOn("instrument.jaxrs"));
        assertFalse(cfg.recorderItems().containsKey("url.normalize"));
        assertFalse(cfg.recorderItems().containsKey("http.endpoints.max"));
        assertFalse(cfg.recorderItems().containsKey("instrument.jaxrs"));
        assertTrue(cfg.recorderItems().containsKey("service.name"));
    }

    @Test
    void theAgentBudgetsCallTreesUnlessConfigured() {
        Map<String, String> noEnv = new HashMap<String, String>();
        AgentConfig plain = AgentConfig.load("service.name=x", null, noEnv, new Properties());
        assertEquals("1000", plain.recorderItems().get(AgentConfig.TREES_PER_SECOND));
        AgentConfig arg = AgentConfig.load("sample.trees_per_second=unlimited", null, noEnv, new Properties());
        assertEquals("unlimited", arg.recorderItems().get(AgentConfig.TREES_PER_SECOND));
        Properties sys = new Properties();
        sys.setProperty("osprey.sample.trees_per_second", "5");
        assertEquals("5", AgentConfig.load(null, null, noEnv, sys).recorderItems().get(AgentConfig.TREES_PER_SECOND));
        // The recorder reads this variable itself; the agent then passes no value over it.
        Map<String, String> env = new HashMap<String, String>();
        env.put("OSPREY_SAMPLE_TREES_PER_SECOND", "20");
        assertFalse(AgentConfig.load(null, null, env, new Properties()).recorderItems()
                .containsKey(AgentConfig.TREES_PER_SECOND));
    }

    @Test
    void argsKeepCommaSeparatedPatternsAndStripThePrefix() {
        Map<String, String> m = AgentConfig.parseArgs(
                "osprey.hook.methods=a.*,b.*,exporter=otlp;otlp.endpoint=http://127.0.0.1:1");
        assertEquals("a.*,b.*", m.get("hook.methods"));
        assertEquals("otlp", m.get("exporter"));
        assertEquals("http://127.0.0.1:1", m.get("otlp.endpoint"));
        assertTrue(AgentConfig.parseArgs(null).isEmpty());
    }

    @Test
    void precedenceIsArgsThenSystemThenEnvThenFile() throws Exception {
        File dir = Files.createTempDirectory("osprey-test").toFile();
        File jar = new File(dir, "osprey-agent.jar");
        Properties file = new Properties();
        file.setProperty("osprey.hook.methods", "file.*");
        file.setProperty("hook.exclude", "file.Ex");
        file.setProperty("service.name", "from-file");
        file.setProperty("batch.size", "7");
        try (FileOutputStream out = new FileOutputStream(new File(dir, "osprey.properties"))) {
            file.store(out, null);
        }
        Map<String, String> env = new HashMap<String, String>();
        env.put("OSPREY_HOOK_EXCLUDE", "env.Ex");
        env.put("OSPREY_HOOK_TRANSACTIONS", "env.T.*");
        Properties sys = new Properties();
        sys.setProperty("osprey.hook.transactions", "sys.T.*");
        sys.setProperty("osprey.service.name", "from-sys");
        sys.setProperty("unrelated", "x");
        AgentConfig cfg = AgentConfig.load("service.name=from-args", jar, env, sys);
        assertEquals("file.*", cfg.get(AgentConfig.HOOK_METHODS));
        assertEquals("env.Ex", cfg.get(AgentConfig.HOOK_EXCLUDE));
        assertEquals("sys.T.*", cfg.get(AgentConfig.HOOK_TRANSACTIONS));
        Map<String, String> rec = cfg.recorderItems();
        assertEquals("from-args", rec.get("service.name"));
        assertEquals("7", rec.get("batch.size"));
        assertFalse(rec.containsKey("hook.methods"));
        assertFalse(rec.containsKey("unrelated"));
        assertTrue(cfg.enabled());
        assertFalse(AgentConfig.load("enabled=false", null, env, new Properties()).enabled());
    }

    @Test
    void explicitConfigFileWins() throws Exception {
        File f = File.createTempFile("osprey", ".properties");
        try (FileOutputStream out = new FileOutputStream(f)) {
            out.write("native.path=/x/libosprey.so\n".getBytes("UTF-8"));
        }
        Properties sys = new Properties();
        sys.setProperty("osprey.config", f.getPath());
        AgentConfig cfg = AgentConfig.load(null, null, new HashMap<String, String>(), sys);
        assertEquals("/x/libosprey.so", cfg.get(AgentConfig.NATIVE_PATH));
        assertNull(cfg.get(AgentConfig.HOOK_METHODS));
    }

    @Test
    void globsMatchClassesOrClassDotMethod() {
        Hooks h = new Hooks("com.acme.*", "com.acme.internal.*", "demo.App.handle*", false);
        assertTrue(h.isMethod("com.acme.Foo", "bar"));
        assertFalse(h.isMethod("com.acme.internal.Foo", "bar"));
        assertFalse(h.isMethod("org.acme.Foo", "bar"));
        assertTrue(h.isTransaction("demo.App", "handleRequest"));
        assertFalse(h.isTransaction("demo.App", "main"));
        assertTrue(h.mayMatchClass("demo.App"));
        assertTrue(h.mayMatchClass("com.acme.x.Y"));
        assertFalse(h.mayMatchClass("demo.Apple"));
        assertFalse(h.mayMatchClass("org.Other"));
    }

    @Test
    void accessorsAreRecognised() {
        assertTrue(Hooks.isAccessor("getName", "()Ljava/lang/String;"));
        assertTrue(Hooks.isAccessor("isOpen", "()Z"));
        assertTrue(Hooks.isAccessor("setName", "(Ljava/lang/String;)V"));
        assertFalse(Hooks.isAccessor("get", "()I"));
        assertFalse(Hooks.isAccessor("getAll", "(I)I"));
        assertFalse(Hooks.isAccessor("setBoth", "(II)V"));
        assertFalse(Hooks.isAccessor("isOpen", "()I"));
        assertFalse(Hooks.isAccessor("handle", "()V"));
    }
}
