package io.osprey.agent;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which methods to hook. Patterns are globs ({@code *} = any characters) matched against the class
 * name ({@code com.acme.*}) or against {@code Class.method} ({@code demo.App.handle*}).
 */
final class Hooks {
    private final List<Glob> methods;
    private final List<Glob> exclude;
    private final List<Glob> transactions;
    final boolean nonPublic;

    Hooks(String methods, String exclude, String transactions, boolean nonPublic) {
        this.methods = Glob.list(methods);
        this.exclude = Glob.list(exclude);
        this.transactions = Glob.list(transactions);
        this.nonPublic = nonPublic;
    }

    static Hooks from(AgentConfig cfg) {
        return new Hooks(cfg.get(AgentConfig.HOOK_METHODS), cfg.get(AgentConfig.HOOK_EXCLUDE),
                cfg.get(AgentConfig.HOOK_TRANSACTIONS), cfg.flag(AgentConfig.HOOK_NONPUBLIC));
    }

    boolean isEmpty() {
        return methods.isEmpty() && transactions.isEmpty();
    }

    /** Whether any method of {@code className} (dotted) may be hooked: a cheap pre-filter. */
    boolean mayMatchClass(String className) {
        return Glob.anyMayMatchClass(methods, className) || Glob.anyMayMatchClass(transactions, className);
    }

    boolean isMethod(String className, String method) {
        return Glob.any(methods, className, method) && !Glob.any(exclude, className, method);
    }

    boolean isTransaction(String className, String method) {
        return Glob.any(transactions, className, method) && !Glob.any(exclude, className, method);
    }

    /** True for {@code getX()}, {@code isX()} returning boolean, and {@code setX(v)} returning void. */
    static boolean isAccessor(String name, String desc) {
        boolean noArgs = desc.startsWith("()");
        if (noArgs && name.length() > 3 && name.startsWith("get") && !desc.endsWith(")V")) {
            return true;
        }
        if (noArgs && name.length() > 2 && name.startsWith("is") && desc.endsWith(")Z")) {
            return true;
        }
        if (name.length() > 3 && name.startsWith("set") && desc.endsWith(")V")) {
            return org.objectweb.asm.Type.getArgumentTypes(desc).length == 1;
        }
        return false;
    }

    static final class Glob {
        final Pattern regex;
        final String prefix;

        Glob(String glob) {
            int star = glob.indexOf('*');
            this.prefix = star < 0 ? glob : glob.substring(0, star);
            StringBuilder sb = new StringBuilder();
            int from = 0;
            for (int i = 0; i < glob.length(); i++) {
                if (glob.charAt(i) == '*') {
                    if (i > from) {
                        sb.append(Pattern.quote(glob.substring(from, i)));
                    }
                    sb.append(".*");
                    from = i + 1;
                }
            }
            if (from < glob.length()) {
                sb.append(Pattern.quote(glob.substring(from)));
            }
            this.regex = Pattern.compile(sb.toString());
        }

        static List<Glob> list(String text) {
            List<Glob> out = new ArrayList<Glob>();
            if (text != null) {
                for (String s : text.split("[,;\\s]+")) {
                    if (!s.isEmpty()) {
                        out.add(new Glob(s));
                    }
                }
            }
            return out;
        }

        boolean matches(String className, String method) {
            return regex.matcher(className).matches() || regex.matcher(className + "." + method).matches();
        }

        boolean mayMatchClass(String className) {
            String dotted = className + ".";
            return dotted.startsWith(prefix) || prefix.startsWith(dotted) || regex.matcher(className).matches();
        }

        static boolean any(List<Glob> globs, String className, String method) {
            for (Glob g : globs) {
                if (g.matches(className, method)) {
                    return true;
                }
            }
            return false;
        }

        static boolean anyMayMatchClass(List<Glob> globs, String className) {
            for (Glob g : globs) {
                if (g.mayMatchClass(className)) {
                    return true;
                }
            }
            return false;
        }
    }
}
