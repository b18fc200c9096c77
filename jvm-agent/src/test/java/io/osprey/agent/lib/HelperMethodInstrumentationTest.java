package io.osprey.agent.lib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.ClassWriter;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;
import org.objectweb.asm.commons.GeneratorAdapter;

/**
 * The shared step/entry hook of the libraries whose runtime helper has only an {@code enter}:
 * what {@code enter} is given, that the bridge's exits end what it returned, that the method
 * still behaves (its exception rethrown as it was), and that each such library wraps its real
 * target that way, calling methods that exist.
 */
class HelperMethodInstrumentationTest {
    private static final String RECORDER = "io/osprey/agent/lib/EnterRecorder";
    private static final String ONE = HelperMethodInstrumentation.ENTER_OBJECT;
    private static final String EXIT = LibraryInstrumentation.OSPREY + ".exit(J)V";
    private static final org.objectweb.asm.commons.Method CONSTRUCTOR =
            org.objectweb.asm.commons.Method.getMethod("void <init> ()");
    private static final String EXIT_ERROR = LibraryInstrumentation.OSPREY + ".exitError(Ljava/lang/Throwable;J)V";

    @BeforeEach
    void clear() {
        EnterRecorder.ENTERED.clear();
    }

    /**
     * A public class {@code name} with a public no-argument constructor and the methods {@code
     * {access, name, desc}}: each returns (null for a reference), or throws {@code new
     * IllegalStateException("boom")} when named {@code fail}; none when abstract (the class is
     * abstract then).
     */
    static byte[] target(String name, String[]... methods) {
        boolean anyAbstract = false;
        for (String[] m : methods) {
            anyAbstract |= (Integer.parseInt(m[0]) & Opcodes.ACC_ABSTRACT) != 0;
        }
        ClassWriter w = new ClassWriter(ClassWriter.COMPUTE_FRAMES | ClassWriter.COMPUTE_MAXS);
        w.visit(Opcodes.V1_8, Opcodes.ACC_PUBLIC | (anyAbstract ? Opcodes.ACC_ABSTRACT : 0), name, null,
                "java/lang/Object", null);
        GeneratorAdapter init = new GeneratorAdapter(Opcodes.ACC_PUBLIC, CONSTRUCTOR, null, null, w);
        init.visitCode();
        init.loadThis();
        init.invokeConstructor(Type.getType(Object.class), CONSTRUCTOR);
        init.returnValue();
        init.endMethod();
        for (String[] m : methods) {
            int access = Integer.parseInt(m[0]);
            GeneratorAdapter g = new GeneratorAdapter(access, new org.objectweb.asm.commons.Method(m[1], m[2]), null,
                    null, w);
            if ((access & Opcodes.ACC_ABSTRACT) == 0) {
                g.visitCode();
                if ("fail".equals(m[1])) {
                    g.throwException(Type.getType(IllegalStateException.class), "boom");
                } else {
                    if (g.getReturnType().getSort() != Type.VOID) {
                        g.visitInsn(Opcodes.ACONST_NULL);
                    }
                    g.returnValue();
                }
            }
            g.endMethod();
        }
        w.visitEnd();
        return w.toByteArray();
    }

    static String[] method(int access, String name, String desc) {
        return new String[] {Integer.toString(access), name, desc};
    }

    /** Method name + descriptor → the static calls it makes ({@code owner.name(desc)}), in order. */
    static Map<String, List<String>> staticCalls(byte[] code) {
        final Map<String, List<String>> out = new HashMap<String, List<String>>();
        new ClassReader(code).accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public MethodVisitor visitMethod(int access, String n, String d, String s, String[] e) {
                final List<String> calls = new ArrayList<String>();
                out.put(n + d, calls);
                return new MethodVisitor(Opcodes.ASM9) {
                    @Override
                    public void visitMethodInsn(int op, String owner, String mn, String md, boolean itf) {
                        if (op == Opcodes.INVOKESTATIC) {
                            calls.add(owner + "." + mn + md);
                        }
                    }
                };
            }
        }, 0);
        return out;
    }

    @Test
    void enterGetsTheReceiverAndArgumentsAndTheBridgeExits() throws Exception {
        String desc = "(Ljava/lang/String;)V";
        byte[] code = target("sample/Helped", method(Opcodes.ACC_PUBLIC, "work", desc),
                method(Opcodes.ACC_PUBLIC, "other", desc));
        byte[] out = new HelperMethodInstrumentation("sample/Helped", "work", desc, RECORDER,
                "(Ljava/lang/Object;Ljava/lang/Object;)J", HelperMethodInstrumentation.THIS, 0)
                .transform(null, "sample/Helped", new ClassReader(code));
        assertNotNull(out);
        Map<String, List<String>> calls = staticCalls(out);
        assertEquals(Arrays.asList(RECORDER + ".enter(Ljava/lang/Object;Ljava/lang/Object;)J", EXIT, EXIT_ERROR),
                calls.get("work" + desc));
        assertEquals(Collections.emptyList(), calls.get("other" + desc));

        Class<?> c = TestClasses.define("sample.Helped", out);
        Object helped = c.getDeclaredConstructor().newInstance();
        c.getMethod("work", String.class).invoke(helped, "x");
        c.getMethod("other", String.class).invoke(helped, "y");
        assertEquals(Collections.singletonList(Arrays.asList(helped, "x")), EnterRecorder.ENTERED);
    }

    @Test
    void onlyTheOwnerIsRewritten() {
        byte[] code = target("sample/Elsewhere", method(Opcodes.ACC_PUBLIC, "run", "()V"));
        HelperMethodInstrumentation hook = new HelperMethodInstrumentation("sample/Helped", "run", "()V", RECORDER,
                ONE, HelperMethodInstrumentation.THIS);
        assertNull(hook.transform(null, "sample/Elsewhere", new ClassReader(code)));
        // The owner without the method: nothing to rewrite.
        assertNull(hook.transform(null, "sample/Helped", new ClassReader(target("sample/Helped"))));
    }

    @Test
    void aStaticMethodPassesNullForTheReceiver() throws Exception {
        byte[] code = target("sample/Runs", method(Opcodes.ACC_PUBLIC | Opcodes.ACC_STATIC, "run", "()V"));
        byte[] out = new HelperMethodInstrumentation("sample/Runs", "run", "()V", RECORDER, ONE,
                HelperMethodInstrumentation.THIS).transform(null, "sample/Runs", new ClassReader(code));
        assertNotNull(out);
        TestClasses.define("sample.Runs", out).getMethod("run").invoke(null);
        assertEquals(Collections.singletonList(Collections.singletonList(null)), EnterRecorder.ENTERED);
    }

    @Test
    void theMethodsExceptionIsRethrownAsItWas() throws Exception {
        byte[] code = target("sample/Fails", method(Opcodes.ACC_PROTECTED, "fail", "()V"));
        byte[] out = new HelperMethodInstrumentation("sample/Fails", "fail", "()V", RECORDER, ONE,
                HelperMethodInstrumentation.THIS).transform(null, "sample/Fails", new ClassReader(code));
        assertNotNull(out); // a protected method too
        Class<?> c = TestClasses.define("sample.Fails", out);
        Object fails = c.getDeclaredConstructor().newInstance();
        Method fail = c.getDeclaredMethod("fail");
        fail.setAccessible(true);
        InvocationTargetException thrown = assertThrows(InvocationTargetException.class, () -> fail.invoke(fails));
        assertSame(IllegalStateException.class, thrown.getCause().getClass());
        assertEquals("boom", thrown.getCause().getMessage());
        assertEquals(Collections.singletonList(Collections.singletonList(fails)), EnterRecorder.ENTERED);
    }

    @Test
    void anOverriddenMatchChoosesTheMethodsAndLeavesBodilessOnes() throws Exception {
        HelperMethodInstrumentation prefix = new HelperMethodInstrumentation("sample/Prefixed", RECORDER, ONE, 0) {
            @Override
            protected boolean matches(String name, String desc) {
                return "handle".equals(name) && desc.startsWith("(Ljava/lang/String;");
            }
        };
        byte[] code = target("sample/Prefixed",
                method(Opcodes.ACC_PUBLIC, "handle", "(Ljava/lang/String;)Ljava/lang/Object;"),
                method(Opcodes.ACC_PUBLIC, "handle", "(Ljava/lang/String;I)V"),
                method(Opcodes.ACC_PUBLIC, "handle", "(Ljava/lang/Object;)V"),
                method(Opcodes.ACC_PUBLIC | Opcodes.ACC_ABSTRACT, "handle", "(Ljava/lang/String;J)V"));
        byte[] out = prefix.transform(null, "sample/Prefixed", new ClassReader(code));
        assertNotNull(out);
        Map<String, List<String>> calls = staticCalls(out);
        List<String> wrapped = Arrays.asList(RECORDER + ".enter" + ONE, EXIT, EXIT_ERROR);
        assertEquals(wrapped, calls.get("handle(Ljava/lang/String;)Ljava/lang/Object;"));
        assertEquals(wrapped, calls.get("handle(Ljava/lang/String;I)V"));
        assertEquals(Collections.emptyList(), calls.get("handle(Ljava/lang/Object;)V"));
        assertEquals(Collections.emptyList(), calls.get("handle(Ljava/lang/String;J)V"));
        TestClasses.define("sample.Prefixed", out); // verifies
        // The warm-up's form: exactly the method named, whatever matches says.
        assertNotNull(prefix.wrap(new ClassReader(code), "handle", "(Ljava/lang/Object;)V"));
        assertNull(prefix.wrap(new ClassReader(code), "absent", "()V"));
    }

    /** The library named {@code name} in the one registry. */
    private static Library library(String name) {
        for (Library l : Libraries.all()) {
            if (l.name().equals(name)) {
                return l;
            }
        }
        throw new AssertionError("no library " + name);
    }

    /**
     * {@code library}'s transform of a class {@code owner} with {@code method} wraps it with its
     * runtime helper's {@code enter} of {@code enterDesc} and the bridge's exits, all public static
     * methods that exist, and the result verifies.
     */
    private static void wrapsWithTheBridgesExits(String library, String helper, String enterDesc, String owner,
            String[] method) throws Exception {
        byte[] out = library(library).instrumentation().transform(null, owner,
                new ClassReader(target(owner, method)));
        assertNotNull(out, library + ": " + owner);
        assertEquals(Arrays.asList(helper + ".enter" + enterDesc, EXIT, EXIT_ERROR),
                staticCalls(out).get(method[1] + method[2]), library + ": " + owner);
        for (String call : staticCalls(out).get(method[1] + method[2])) {
            assertTrue(resolves(call), library + " calls " + call);
        }
        Class<?> c = TestClasses.define(owner.replace('/', '.'), out); // verifies
        if ("()V".equals(method[2])) {
            c.getMethod(method[1]).invoke(c.getDeclaredConstructor().newInstance()); // agent off: runs as before
        }
    }

    /** Whether {@code owner.name(desc)} is a public static method (the hook runs in the application's loader). */
    private static boolean resolves(String call) throws Exception {
        String owner = call.substring(0, call.lastIndexOf('.', call.indexOf('(')));
        String name = call.substring(owner.length() + 1, call.indexOf('('));
        String desc = call.substring(call.indexOf('('));
        for (Method m : Class.forName(owner.replace('/', '.')).getDeclaredMethods()) {
            if (m.getName().equals(name) && Type.getMethodDescriptor(m).equals(desc)
                    && Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())) {
                return true;
            }
        }
        return false;
    }

    @Test
    void eachHelperLibraryWrapsItsTargetsWithTheBridgesExits() throws Exception {
        int pub = Opcodes.ACC_PUBLIC;
        wrapsWithTheBridgesExits("jaxrs_resources", "io/osprey/agent/lib/jaxrsresources/JaxrsResources", ONE,
                "org/glassfish/jersey/server/model/internal/AbstractJavaResourceMethodDispatcher",
                method(pub | Opcodes.ACC_FINAL, "dispatch",
                        "(Ljava/lang/Object;Lorg/glassfish/jersey/server/ContainerRequest;)Ljakarta/ws/rs/core/Response;"));
        wrapsWithTheBridgesExits("jaxrs_resources", "io/osprey/agent/lib/jaxrsresources/JaxrsResources", ONE,
                "org/jboss/resteasy/core/MethodInjectorImpl", method(pub, "invoke",
                        "(Lorg/jboss/resteasy/spi/HttpRequest;Lorg/jboss/resteasy/spi/HttpResponse;"
                                + "Ljava/lang/Object;)Ljava/lang/Object;"));
        wrapsWithTheBridgesExits("views", "io/osprey/agent/lib/views/Views", ONE,
                "org/springframework/web/servlet/DispatcherServlet", method(Opcodes.ACC_PROTECTED, "render",
                        "(Lorg/springframework/web/servlet/ModelAndView;Ljavax/servlet/http/HttpServletRequest;"
                                + "Ljavax/servlet/http/HttpServletResponse;)V"));
        wrapsWithTheBridgesExits("kafka", "io/osprey/agent/lib/kafka/Kafka", ONE,
                "org/apache/kafka/clients/producer/KafkaProducer", method(pub, "send",
                        "(Lorg/apache/kafka/clients/producer/ProducerRecord;"
                                + "Lorg/apache/kafka/clients/producer/Callback;)Ljava/util/concurrent/Future;"));
        wrapsWithTheBridgesExits("quartz", "io/osprey/agent/lib/quartz/Quartz", ONE, "org/quartz/core/JobRunShell",
                method(pub, "run", "()V"));
        wrapsWithTheBridgesExits("spring_scheduled", "io/osprey/agent/lib/scheduled/Scheduled", ONE,
                "org/springframework/scheduling/support/ScheduledMethodRunnable", method(pub, "run", "()V"));
        wrapsWithTheBridgesExits("thymeleaf", "io/osprey/agent/lib/thymeleaf/Thymeleaf", ONE,
                "org/thymeleaf/TemplateEngine", method(pub, "process",
                        "(Lorg/thymeleaf/TemplateSpec;Lorg/thymeleaf/context/IContext;Ljava/io/Writer;)V"));
        wrapsWithTheBridgesExits("hibernate", "io/osprey/agent/lib/hibernate/Hibernate", "(Ljava/lang/String;)J",
                "org/hibernate/internal/SessionImpl", method(pub, "flush", "()V"));
        wrapsWithTheBridgesExits("spring_mvc", "io/osprey/agent/lib/springmvc/SpringMvc", ONE,
                "org/springframework/web/method/support/InvocableHandlerMethod", method(pub, "invokeForRequest",
                        "(Lorg/springframework/web/context/request/NativeWebRequest;"
                                + "Lorg/springframework/web/method/support/ModelAndViewContainer;[Ljava/lang/Object;)"
                                + "Ljava/lang/Object;"));
        wrapsWithTheBridgesExits("spring_data", "io/osprey/agent/lib/springdata/SpringData",
                "(Ljava/lang/Object;Ljava/lang/Object;)J",
                "org/springframework/data/repository/core/support/RepositoryMethodInvoker", method(pub, "invoke",
                        "(Ljava/lang/Class;Lorg/springframework/data/repository/core/support/"
                                + "RepositoryInvocationMulticaster;[Ljava/lang/Object;)Ljava/lang/Object;"));
    }
}
