package io.osprey.agent.lib.jaxrs;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.Reflection;
import io.osprey.agent.lib.servlet.Servers;
import java.lang.reflect.Method;
import java.net.URI;
import java.util.List;

/**
 * JAX-RS routes: on RESTEasy, {@link #resteasyRoute}; on Jersey, the route of a request is the base URI's path (context and servlet path, {@code /api}) and
 * the matched {@code @Path} templates, outermost first, with regular expressions left out of
 * their variables ({@code /api/pets/{petId}/toys/{toyId}}). Read through the public API by
 * reflection (methods found once per class); any failure leaves the name as it was. Never throws.
 */
public final class Jaxrs {
    private static volatile Methods methods;

    private Jaxrs() {}

    /** At {@code ResourceMethodInvoker.apply(context)}: names the transaction by the route. */
    public static void route(Object context) {
        if (!Osprey.enabled || context == null) {
            return;
        }
        try {
            Methods m = methods;
            if (m == null || m.context != context.getClass()) {
                m = new Methods(context.getClass());
                methods = m;
            }
            Object request = m.request.invoke(context);
            Object info = m.requestMethods(request).uriInfo.invoke(request);
            Object templates = m.infoMethods(info).templates.invoke(info);
            Object base = m.requestMethods(request).baseUri.invoke(request);
            Object method = m.requestMethods(request).method.invoke(request);
            if (!(templates instanceof List) || !(base instanceof URI)) {
                return;
            }
            List<?> list = (List<?>) templates;
            String[] parts = new String[list.size()];
            for (int i = 0; i < parts.length; i++) {
                Object t = list.get(i);
                Method getTemplate = Reflection.publicMethod(t.getClass(), "getTemplate");
                parts[i] = getTemplate == null ? null : String.valueOf(getTemplate.invoke(t));
            }
            Servers.namedRoute(method == null ? null : method.toString(),
                    route(((URI) base).getRawPath(), parts));
        } catch (Throwable ignored) {
            // the transaction keeps its name
        }
    }

    private static volatile Class<?> resteasyClass;
    private static volatile java.lang.reflect.Field resteasyMethod;

    /**
     * At RESTEasy's {@code ResourceMethodInvoker.invoke(request, response, target)}: names the
     * transaction {@code METHOD base/fullpath}, where the base is the request's base URI's path
     * (context path and JAX-RS application path) and the full path is the resource method's
     * {@code ResourceMethod.getFullpath()} (the class's and the method's {@code @Path} joined).
     * A method of a sub-resource (its class has no {@code @Path}, reached through a locator)
     * leaves the name as it was: its full path lacks the locator's.
     */
    public static void resteasyRoute(Object invoker, Object request) {
        if (!Osprey.enabled || invoker == null || request == null) {
            return;
        }
        try {
            java.lang.reflect.Field f = resteasyMethod;
            if (f == null || resteasyClass != invoker.getClass()) {
                f = null;
                for (Class<?> k = invoker.getClass(); k != null && f == null; k = k.getSuperclass()) {
                    try {
                        f = k.getDeclaredField("method");
                    } catch (NoSuchFieldException e) {
                        // look further up
                    }
                }
                if (f == null) {
                    return;
                }
                f.setAccessible(true);
                resteasyMethod = f;
                resteasyClass = invoker.getClass();
            }
            Object resourceMethod = f.get(invoker);
            if (resourceMethod == null) {
                return;
            }
            Object resourceClass = call(resourceMethod, "getResourceClass");
            if (resourceClass == null || call(resourceClass, "getPath") == null) {
                return; // a sub-resource
            }
            Object fullpath = call(resourceMethod, "getFullpath");
            Object uri = call(request, "getUri");
            Object base = uri == null ? null : call(uri, "getBaseUri");
            Object method = call(request, "getHttpMethod");
            if (!(fullpath instanceof String) || !(base instanceof URI)) {
                return;
            }
            Servers.namedRoute(method == null ? null : method.toString(),
                    route(((URI) base).getRawPath(), new String[] {(String) fullpath}));
        } catch (Throwable ignored) {
            // the transaction keeps its name
        }
    }

    /** {@code target.name()} through a public class or interface; null when there is none. */
    private static Object call(Object target, String name) throws Exception {
        Method m = Reflection.publicMethod(target.getClass(), name);
        return m == null ? null : m.invoke(target);
    }

    /**
     * {@code base} (without its trailing {@code /}) and the templates (innermost first, as Jersey
     * lists them) joined with single slashes, variables without their regular expressions.
     */
    static String route(String base, String[] innermostFirst) {
        StringBuilder sb = new StringBuilder();
        append(sb, base);
        for (int i = innermostFirst.length - 1; i >= 0; i--) {
            if (innermostFirst[i] != null) {
                append(sb, withoutRegex(innermostFirst[i]));
            }
        }
        return sb.length() == 0 ? "/" : sb.toString();
    }

    private static void append(StringBuilder sb, String part) {
        if (part == null) {
            return;
        }
        for (String seg : part.split("/")) {
            if (!seg.isEmpty()) {
                sb.append('/').append(seg);
            }
        }
    }

    /** {@code {id: [0-9]+}} → {@code {id}}; braces inside the expression are balanced. */
    static String withoutRegex(String template) {
        if (template.indexOf(':') < 0) {
            return template;
        }
        StringBuilder sb = new StringBuilder(template.length());
        int depth = 0;
        boolean skipping = false;
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '{') {
                depth++;
                if (depth == 1) {
                    sb.append(c);
                    continue;
                }
            } else if (c == '}') {
                depth--;
                if (depth == 0) {
                    skipping = false;
                    sb.append(c);
                    continue;
                }
            } else if (c == ':' && depth == 1) {
                skipping = true;
            }
            if (!skipping) {
                if (depth == 1 && c == ' ') {
                    continue; // "{id : ...}": the name without spaces
                }
                sb.append(c);
            }
        }
        return sb.toString();
    }

    /** The public methods used, per class. */
    static final class Methods {
        final Class<?> context;
        final Method request;
        private volatile RequestMethods requestMethods;
        private volatile InfoMethods infoMethods;

        Methods(Class<?> context) {
            this.context = context;
            this.request = Reflection.publicMethod(context, "request");
        }

        RequestMethods requestMethods(Object request) {
            RequestMethods r = requestMethods;
            if (r == null || r.type != request.getClass()) {
                r = new RequestMethods(request.getClass());
                requestMethods = r;
            }
            return r;
        }

        InfoMethods infoMethods(Object info) {
            InfoMethods r = infoMethods;
            if (r == null || r.type != info.getClass()) {
                r = new InfoMethods(info.getClass());
                infoMethods = r;
            }
            return r;
        }
    }

    /** {@code ContainerRequest}: {@code getUriInfo()}, {@code getBaseUri()}, {@code getMethod()}. */
    static final class RequestMethods {
        final Class<?> type;
        final Method uriInfo;
        final Method baseUri;
        final Method method;

        RequestMethods(Class<?> type) {
            this.type = type;
            this.uriInfo = Reflection.publicMethod(type, "getUriInfo");
            this.baseUri = Reflection.publicMethod(type, "getBaseUri");
            this.method = Reflection.publicMethod(type, "getMethod");
        }
    }

    /** {@code ExtendedUriInfo.getMatchedTemplates()}. */
    static final class InfoMethods {
        final Class<?> type;
        final Method templates;

        InfoMethods(Class<?> type) {
            this.type = type;
            this.templates = Reflection.publicMethod(type, "getMatchedTemplates");
        }
    }
}
