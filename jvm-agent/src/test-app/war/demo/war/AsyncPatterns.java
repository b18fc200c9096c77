package demo.war;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * Asynchronous servlets in the patterns applications use, each answering after {@code ms}
 * milliseconds: {@code /async-start} (work in {@code AsyncContext.start(Runnable)} on a container
 * thread, completed there), {@code /async-dispatch?to=servlet|jsp} (work on a thread of its own,
 * then {@code dispatch()} to {@code /hello} or to {@code page.jsp}), {@code /async-timeout} (never
 * completed: the container's timeout ends it), {@code /async-handled} (an application listener
 * answers the timeout) and {@code /async-error} (a 503 sent from the async thread).
 */
public final class AsyncPatterns {
    private AsyncPatterns() {}

    static long ms(HttpServletRequest req) {
        return Long.parseLong(req.getParameter("ms"));
    }

    static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@code AsyncContext.start(Runnable)}: the container runs the work, which completes. */
    @WebServlet(urlPatterns = "/async-start", asyncSupported = true)
    public static final class Start extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            final long ms = ms(req);
            final AsyncContext ctx = req.startAsync();
            ctx.start(() -> {
                try {
                    pause(ms);
                    String work = Work.outer("42");
                    ctx.getResponse().setContentType("text/plain");
                    ctx.getResponse().getWriter().print("started " + work);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                } finally {
                    ctx.complete();
                }
            });
        }
    }

    /** Work on a thread of its own, then a dispatch to a servlet or a JSP. */
    @WebServlet(urlPatterns = "/async-dispatch", asyncSupported = true)
    public static final class Dispatch extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            final long ms = ms(req);
            final String target = "jsp".equals(req.getParameter("to")) ? "/page.jsp" : "/hello?id=42";
            final AsyncContext ctx = req.startAsync();
            new Thread(() -> {
                pause(ms);
                ctx.dispatch(target);
            }, "demo-dispatch").start();
        }
    }

    /** Never completed: the container's timeout ends the request. */
    @WebServlet(urlPatterns = "/async-timeout", asyncSupported = true)
    public static final class Timeout extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            req.startAsync().setTimeout(ms(req));
        }
    }

    /** An application listener answers the timeout and completes the request. */
    @WebServlet(urlPatterns = "/async-handled", asyncSupported = true)
    public static final class Handled extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            AsyncContext ctx = req.startAsync();
            ctx.setTimeout(ms(req));
            ctx.addListener(new AsyncListener() {
                @Override
                public void onTimeout(AsyncEvent event) throws IOException {
                    AsyncContext c = event.getAsyncContext();
                    c.getResponse().setContentType("text/plain");
                    c.getResponse().getWriter().print("no news");
                    c.complete();
                }

                @Override
                public void onComplete(AsyncEvent event) {}

                @Override
                public void onError(AsyncEvent event) {}

                @Override
                public void onStartAsync(AsyncEvent event) {}
            });
        }
    }

    /** A 503 sent from the async thread. */
    @WebServlet(urlPatterns = "/async-error", asyncSupported = true)
    public static final class Failing extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
            final long ms = ms(req);
            final AsyncContext ctx = req.startAsync();
            new Thread(() -> {
                pause(ms);
                try {
                    ((HttpServletResponse) ctx.getResponse()).sendError(503, "busy");
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                } finally {
                    ctx.complete();
                }
            }, "demo-async-error").start();
        }
    }
}
