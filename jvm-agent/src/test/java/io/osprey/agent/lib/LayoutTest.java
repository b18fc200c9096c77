package io.osprey.agent.lib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.agent.TestClasses;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;
import org.objectweb.asm.Type;

/**
 * The library layout ({@link Library}): one package per library, registered once; its runtime
 * classes (moved to the boot class path by the build) link without the agent's classes, and the
 * agent side uses only their public members.
 */
class LayoutTest {
    private static final String LIB = "io/osprey/agent/lib/";

    /** Whether the class runs in the agent (the build keeps it out of the bootstrap jar). */
    static boolean agentSide(String internalName) {
        String simple = internalName.substring(internalName.lastIndexOf('/') + 1);
        String outer = simple.contains("$") ? simple.substring(0, simple.indexOf('$')) : simple;
        return !internalName.startsWith(LIB) || internalName.indexOf('/', LIB.length()) < 0
                || outer.endsWith("Library") || outer.endsWith("Instrumentation");
    }

    private static List<String> libraryClasses() throws Exception {
        File root = new File(Library.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> out = new ArrayList<String>();
        collect(new File(root, LIB), LIB, out);
        return out;
    }

    private static void collect(File dir, String prefix, List<String> out) {
        File[] files = dir.listFiles();
        if (files == null) {
            return;
        }
        for (File f : files) {
            if (f.isDirectory()) {
                collect(f, prefix + f.getName() + "/", out);
            } else if (f.getName().endsWith(".class")) {
                out.add(prefix + f.getName().substring(0, f.getName().length() - 6));
            }
        }
    }

    private static ClassReader read(String internalName) throws Exception {
        return new ClassReader(TestClasses.bytes("/" + internalName + ".class"));
    }

    @Test
    void everyLibraryIsOnePackageRegisteredOnce() {
        Set<String> names = new HashSet<String>();
        Set<String> packages = new HashSet<String>();
        for (Library l : Libraries.all()) {
            assertTrue(names.add(l.name()), l.name());
            String pkg = l.getClass().getPackage().getName();
            assertTrue(pkg.startsWith("io.osprey.agent.lib."), pkg);
            assertTrue(packages.add(pkg), "one library per package: " + pkg);
            assertNotNull(l.instrumentation(), l.name());
            assertEquals(pkg, l.instrumentation().getClass().getPackage().getName());
            assertTrue(Libraries.keys().contains(l.switchKey()));
            assertTrue(Libraries.keys().containsAll(l.keys()));
        }
        // Fresh instances each time: a transform's per-loader state is per agent start.
        assertFalse(Libraries.all().get(0) == Libraries.all().get(0));
    }

    @Test
    void runtimeClassesLinkWithoutTheAgent() throws Exception {
        int runtime = 0;
        for (String name : libraryClasses()) {
            if (agentSide(name)) {
                continue;
            }
            runtime++;
            final Set<String> refs = referencedClasses(name);
            for (String ref : refs) {
                assertFalse(ref.startsWith("org/objectweb/asm/"), name + " uses ASM: " + ref);
                if (ref.startsWith("io/osprey/agent/")) {
                    assertTrue(ref.startsWith("io/osprey/agent/bootstrap/") || !agentSide(ref),
                            name + " (runtime, boot class path) references agent class " + ref);
                }
            }
        }
        assertTrue(runtime >= 6, "runtime classes found: " + runtime);
    }

    @Test
    void agentSideUsesOnlyPublicRuntimeMembers() throws Exception {
        int checked = 0;
        for (String name : libraryClasses()) {
            if (!agentSide(name)) {
                continue;
            }
            for (String[] use : memberUses(name)) {
                String owner = use[0];
                if (!owner.startsWith(LIB) || agentSide(owner)) {
                    continue;
                }
                Class<?> type = Class.forName(owner.replace('/', '.'));
                assertTrue(Modifier.isPublic(type.getModifiers()), name + " uses non-public " + owner);
                Member m = find(type, use[1], use[2]);
                assertNotNull(m, owner + "." + use[1] + use[2]);
                assertTrue(Modifier.isPublic(m.getModifiers()),
                        name + " uses non-public " + owner + "." + use[1] + " (another loader at run time)");
                checked++;
            }
        }
        assertTrue(checked >= 3, "uses checked: " + checked);
    }

    private static Member find(Class<?> type, String name, String desc) throws Exception {
        if (desc.startsWith("(")) {
            for (Method m : type.getDeclaredMethods()) {
                if (m.getName().equals(name) && Type.getMethodDescriptor(m).equals(desc)) {
                    return m;
                }
            }
            return null;
        }
        Field f = type.getDeclaredField(name);
        return f;
    }

    private static Set<String> referencedClasses(String name) throws Exception {
        ClassReader r = read(name);
        Set<String> out = new HashSet<String>();
        char[] buf = new char[r.getMaxStringLength()];
        for (int i = 1; i < r.getItemCount(); i++) {
            int offset = r.getItem(i);
            if (offset > 0 && r.readByte(offset - 1) == 7) { // CONSTANT_Class
                String c = r.readUTF8(offset, buf);
                while (c.startsWith("[")) {
                    c = c.substring(1);
                }
                if (c.startsWith("L") && c.endsWith(";")) {
                    c = c.substring(1, c.length() - 1);
                }
                out.add(c);
            }
        }
        return out;
    }

    /** {owner, name, descriptor} of every field and method instruction of the class. */
    private static List<String[]> memberUses(String name) throws Exception {
        final List<String[]> out = new ArrayList<String[]>();
        read(name).accept(new ClassVisitor(Opcodes.ASM9) {
            @Override
            public MethodVisitor visitMethod(int access, String n, String d, String s, String[] e) {
                return new MethodVisitor(Opcodes.ASM9) {
                    @Override
                    public void visitMethodInsn(int op, String owner, String mn, String md, boolean itf) {
                        out.add(new String[] {owner, mn, md});
                    }

                    @Override
                    public void visitFieldInsn(int op, String owner, String fn, String fd) {
                        out.add(new String[] {owner, fn, fd});
                    }
                };
            }
        }, 0);
        return out;
    }
}
