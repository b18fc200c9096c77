package io.osprey.agent.lib.httpclient;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.HttpURLConnection;
import java.net.URL;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;

/** The HTTP client transforms verify and leave behaviour unchanged; the URL masking. */
class HttpClientInstrumentationTest {
    private static ClassReader reader(String name) throws Exception {
        return new ClassReader(TestClasses.bytes("/" + name + ".class"));
    }

    @Test
    void apacheStyleDoExecuteIsWrappedAndBehavesTheSame() throws Exception {
        byte[] out = ApacheHttpInstrumentation.rewriteCall(reader("sample/FakeHttpClient"), "doExecute",
                "(Ljava/lang/String;Ljava/lang/StringBuilder;Ljava/lang/Object;)Ljava/lang/StringBuilder;",
                "apacheEnter", 2, "apacheExit");
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeHttpClient", out);
        Object client = c.getDeclaredConstructor().newInstance();
        Method execute = c.getMethod("execute", String.class, StringBuilder.class);
        assertEquals("ab!b!", execute.invoke(client, "b!", new StringBuilder("a")).toString());
        InvocationTargetException e = assertThrows(InvocationTargetException.class,
                () -> execute.invoke(client, "b", new StringBuilder()));
        assertTrue(e.getCause() instanceof IllegalArgumentException);
    }

    @Test
    void onlyTheExactApacheClassesMatch() throws Exception {
        ApacheHttpInstrumentation http = new ApacheHttpInstrumentation();
        assertNull(http.transform(null, "sample/FakeHttpClient", reader("sample/FakeHttpClient")));
        assertTrue(ApacheHttpInstrumentation.CLASSES.containsKey(
                "org/apache/hc/client5/http/impl/classic/InternalHttpClient"));
    }

    @Test
    void urlConnectionMethodsAreWrappedAndBehaveTheSame() throws Exception {
        byte[] out = JdkHttpInstrumentation.rewriteUrlConnection(reader("sample/FakeUrlConnection"));
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeUrlConnection", out);
        HttpURLConnection conn = (HttpURLConnection) c.getConstructor(URL.class)
                .newInstance(new URL("http://127.0.0.1:8080/x?token=abc"));
        OutputStream body = conn.getOutputStream();
        body.write(new byte[] {1, 2, 3});
        assertEquals(200, conn.getResponseCode());
        InputStream in = conn.getInputStream();
        assertEquals("got 3", new String(TestClasses.read(in), "UTF-8"));
        HttpURLConnection refused = (HttpURLConnection) c.getConstructor(URL.class)
                .newInstance(new URL("http://127.0.0.1:1/"));
        assertThrows(java.io.IOException.class, refused::getInputStream);
    }

    @Test
    void requestConstructorIsAdaptedOnlyWhenTheFieldExists() throws Exception {
        byte[] out = JdkHttpInstrumentation.rewriteRequest(reader("sample/FakeRequest"),
                "(Ljava/lang/Object;Ljava/lang/Object;)V", "systemHeaders", "Ljava/util/Map;");
        assertNotNull(out);
        Class<?> c = TestClasses.define("sample.FakeRequest", out);
        Object r = c.getConstructor(Object.class, Object.class).newInstance("GET", null);
        assertEquals("GET", c.getMethod("method").invoke(r));
        assertNull(JdkHttpInstrumentation.rewriteRequest(reader("sample/FakeRequest"),
                "(Ljava/lang/Object;Ljava/lang/Object;)V", "renamed", "Ljava/util/Map;"));
    }

    @Test
    void theJdkClassesOfThisJvmHaveTheExpectedShape() throws Exception {
        for (String name : JdkHttpInstrumentation.CLASSES) {
            InputStream in = Object.class.getResourceAsStream("/" + name + ".class");
            if (in == null) {
                continue; // Java 8: no java.net.http
            }
            byte[] bytes;
            try (InputStream src = in) {
                bytes = TestClasses.read(src);
            }
            assertNotNull(JdkHttpInstrumentation.rewrite(name, new ClassReader(bytes)), name);
        }
        assertNull(new JdkHttpInstrumentation().transform(null, "java/lang/String", null, null, new byte[0]));
    }

    @Test
    void warmUpRunsEveryRewrite() {
        assertEquals(4, JdkHttpInstrumentation.warmUp());
    }

    @Test
    void urlsKeepNoQueryValuesNorUserInfo() {
        assertEquals("http://h:1/p?a=?&b=?&c", HttpClients.fullUrl("http://user:pw@h:1/p?a=1&b=x&c#frag"));
        assertEquals("https://h/p", HttpClients.fullUrl("https://h/p"));
        assertEquals("http://h?q=?", HttpClients.fullUrl("http://h?q=@x"));
        assertEquals(443, HttpClients.port(-1, "https"));
        assertEquals(80, HttpClients.port(-1, "http"));
        assertEquals(8081, HttpClients.port(8081, "http"));
        assertEquals("Server returned 500 for URL: http://h/s?code=?&t=? now",
                HttpClients.message(new java.io.IOException("Server returned 500 for URL: http://h/s?code=5&t=x now"),
                        null));
    }
}
