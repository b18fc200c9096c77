package io.osprey.agent.lib.redis;

import io.osprey.agent.bootstrap.Osprey;
import io.osprey.agent.bootstrap.OspreyNative;
import io.osprey.agent.bootstrap.ReentryGuard;
import io.osprey.agent.bootstrap.ValueNames;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Redis command steps for the Jedis and Lettuce instrumentations. A step is named with the command alone
 * ({@code GET}, {@code HSET}): keys and values are never read. It is a database step (a CLIENT
 * span, counted with the database calls) with {@code db.system=redis}, {@code
 * db.operation.name}, {@code server.address} and {@code server.port}. Jedis's types are reached
 * by reflection (they belong to the application's loader); nothing here throws.
 */
public final class Redis {
    /** Command (a {@code ProtocolCommand}, usually an enum constant) → its name and name id. Bounded. */
    private static final Map<Object, Command> COMMANDS = new ConcurrentHashMap<Object, Command>();
    private static final int MAX_COMMANDS = 1024;
    /** Connection → its server. Weak keys, bounded. */
    private static final Map<Object, Server> SERVERS =
            Collections.synchronizedMap(new WeakHashMap<Object, Server>());
    private static final int MAX_SERVERS = 10000;
    private static final Server UNKNOWN = new Server(null, -1);

    /** Set while a command step is open on this thread: a command inside a command is not a step. */
    private static final ReentryGuard GUARD = new ReentryGuard();

    private static int kSystem = -1;
    private static int kOperation = -1;
    private static int kAddress = -1;
    private static int kPort = -1;
    private static int vRedis = -1;

    /** Reflected methods of the last classes seen (one Jedis per application, as a rule). */
    private static volatile Method[] lastCommandMethods;
    private static volatile Class<?> lastCommandClass;

    private Redis() {}

    /** Interns the attribute keys; called once by the agent after the recorder started. */
    public static void init() {
        kSystem = OspreyNative.intern("db.system");
        kOperation = OspreyNative.intern("db.operation.name");
        kAddress = OspreyNative.intern("server.address");
        kPort = OspreyNative.intern("server.port");
        vRedis = ValueNames.id("redis");
    }

    /**
     * Entry of {@code Connection.executeCommand(commandObject)}; the step handle (0: no step, as
     * outside a transaction).
     */
    public static long enter(Object connection, Object commandObject) {
        if (!Osprey.enabled || commandObject == null) {
            return 0L;
        }
        try {
            if (GUARD.held()) {
                return 0L;
            }
            Command command = command(commandObject);
            if (command == null) {
                return 0L;
            }
            long h = command.id < OspreyNative.OVERFLOW_IDS
                    ? OspreyNative.enterName(command.name, OspreyNative.STEP_SQL)
                    : OspreyNative.enter(command.id, OspreyNative.STEP_SQL);
            if (h == 0L) {
                return 0L;
            }
            GUARD.hold();
            // Entered: from here on the handle must reach exit, whatever happens.
            try {
                ValueNames.attr(h, kSystem, "redis", vRedis);
                ValueNames.attr(h, kOperation, command.name, command.id);
                Server server = server(connection);
                ValueNames.attr(h, kAddress, server.host, server.hostId);
                if (server.port > 0) {
                    OspreyNative.attrLong(h, kPort, server.port);
                }
            } catch (Throwable ignored) {
                // attributes are best effort
            }
            return h;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * Entry of Lettuce's {@code commands.dispatch(command)}: a step named with {@code
     * command.getType()} (a {@code ProtocolKeyword}: its bytes), with the server of the
     * commands' connection ({@link #lettuceServer}). 0 for none.
     */
    public static long lettuceEnter(Object commands, Object command) {
        if (!Osprey.enabled || command == null) {
            return 0L;
        }
        try {
            if (GUARD.held()) {
                return 0L;
            }
            Method getType = publicMethod(command.getClass(), "getType");
            Object keyword = getType == null ? null : getType.invoke(command);
            Command c = keyword == null ? null : named(keyword);
            if (c == null) {
                return 0L;
            }
            long h = c.id < OspreyNative.OVERFLOW_IDS ? OspreyNative.enterName(c.name, OspreyNative.STEP_SQL)
                    : OspreyNative.enter(c.id, OspreyNative.STEP_SQL);
            if (h == 0L) {
                return 0L;
            }
            GUARD.hold();
            try {
                ValueNames.attr(h, kSystem, "redis", vRedis);
                ValueNames.attr(h, kOperation, c.name, c.id);
                Server server = lettuceServer(commands);
                ValueNames.attr(h, kAddress, server.host, server.hostId);
                if (server.port > 0) {
                    OspreyNative.attrLong(h, kPort, server.port);
                }
            } catch (Throwable ignored) {
                // attributes are best effort
            }
            return h;
        } catch (Throwable t) {
            return 0L;
        }
    }

    /**
     * Normal exit of {@code dispatch}: the step is exited now and ends when {@code future} (the
     * command, a {@code CompletableFuture}) completes, on the thread that completes it, failed
     * when the command failed (an error reply).
     */
    public static void lettuceExit(Object future, long handle) {
        if (handle == 0L) {
            return;
        }
        long cell = 0L;
        try {
            cell = OspreyNative.deferEnd(handle);
            if (cell != 0L && future instanceof java.util.concurrent.CompletableFuture) {
                final long c = cell;
                ((java.util.concurrent.CompletableFuture<?>) future).whenComplete(new CommandEnd(c));
                cell = 0L;
            }
        } catch (Throwable ignored) {
            // the step ends now
        }
        if (cell != 0L) {
            OspreyNative.completeDeferred(cell, 0, null, null);
        }
        exit(handle);
    }

    /** Completes a deferred command step; runs once. */
    static final class CommandEnd implements java.util.function.BiConsumer<Object, Throwable> {
        private final long cell;

        CommandEnd(long cell) {
            this.cell = cell;
        }

        @Override
        public void accept(Object result, Throwable failure) {
            String type = null;
            String message = null;
            try {
                if (failure != null) {
                    Throwable cause = failure instanceof java.util.concurrent.CompletionException
                            && failure.getCause() != null ? failure.getCause() : failure;
                    type = cause.getClass().getName();
                    message = String.valueOf(cause.getMessage());
                }
            } catch (Throwable ignored) {
                // completed without details
            }
            OspreyNative.completeDeferred(cell, 0, type, message);
        }
    }

    /** Normal exit of the step {@link #enter} returned. */
    public static void exit(long handle) {
        GUARD.exit(handle);
    }

    /** Exceptional exit: records {@code thrown} (a Redis error reply, a broken connection). */
    public static void exitError(Throwable thrown, long handle) {
        GUARD.exitError(thrown, handle);
    }

    /** {@code commandObject.getArguments().getCommand()}, named by its raw bytes ({@code SET}). */
    static Command command(Object commandObject) throws Exception {
        Method[] m = methods(commandObject.getClass());
        Object arguments = m[0].invoke(commandObject);
        if (arguments == null) {
            return null;
        }
        Method getCommand = publicMethod(arguments.getClass(), "getCommand");
        Object protocolCommand = getCommand == null ? null : getCommand.invoke(arguments);
        if (protocolCommand == null) {
            return null;
        }
        return named(protocolCommand);
    }

    /**
     * The command's name from its bytes (Jedis's {@code getRaw()}, Lettuce's {@code getBytes()}),
     * cached per command object (enum constants, as a rule).
     */
    static Command named(Object protocolCommand) throws Exception {
        Command known = COMMANDS.get(protocolCommand);
        if (known != null) {
            return known;
        }
        Method getRaw = publicMethod(protocolCommand.getClass(), "getRaw");
        if (getRaw == null) {
            getRaw = publicMethod(protocolCommand.getClass(), "getBytes");
        }
        Object raw = getRaw == null ? null : getRaw.invoke(protocolCommand);
        String name = raw instanceof byte[] ? new String((byte[]) raw, StandardCharsets.US_ASCII)
                : String.valueOf(protocolCommand);
        name = name.toUpperCase(java.util.Locale.ROOT);
        if (name.length() > 64) {
            name = name.substring(0, 64);
        }
        // Outside any lock: the name table takes its own.
        Command fresh = new Command(name, OspreyNative.internStep(name, OspreyNative.STEP_SQL));
        if (fresh.id >= OspreyNative.OVERFLOW_IDS && COMMANDS.size() < MAX_COMMANDS) {
            COMMANDS.put(protocolCommand, fresh);
        }
        return fresh;
    }

    private static Method[] methods(Class<?> commandObjectClass) throws Exception {
        Method[] m = lastCommandMethods;
        if (m == null || lastCommandClass != commandObjectClass) {
            m = new Method[] {commandObjectClass.getMethod("getArguments")};
            lastCommandMethods = m;
            lastCommandClass = commandObjectClass;
        }
        return m;
    }

    /** Arguments and protocol commands are public classes or enums; their getters public. */
    private static Method publicMethod(Class<?> c, String name) {
        return io.osprey.agent.bootstrap.Reflection.publicMethod(c, name);
    }

    /** The connection's server, from its {@code getHostAndPort()}; cached per connection. */
    static Server server(Object connection) {
        if (connection == null) {
            return UNKNOWN;
        }
        Server known = SERVERS.get(connection);
        if (known != null) {
            return known;
        }
        Server server = UNKNOWN;
        try {
            Method m = null;
            for (Class<?> c = connection.getClass(); c != null && m == null; c = c.getSuperclass()) {
                try {
                    m = c.getDeclaredMethod("getHostAndPort");
                } catch (NoSuchMethodException e) {
                    // look further up
                }
            }
            if (m != null) {
                m.setAccessible(true);
                Object hp = m.invoke(connection);
                if (hp != null) {
                    Object host = hp.getClass().getMethod("getHost").invoke(hp);
                    Object port = hp.getClass().getMethod("getPort").invoke(hp);
                    server = new Server(host == null ? null : host.toString(),
                            port instanceof Integer ? (Integer) port : -1);
                }
            }
        } catch (Throwable ignored) {
            // unknown
        }
        if (SERVERS.size() < MAX_SERVERS) {
            SERVERS.put(connection, server);
        }
        return server;
    }

    /**
     * The server of Lettuce's {@code commands.getConnection()}: the remote address of the Netty
     * channel of its endpoint ({@code getChannelWriter()}, through the writers that delegate to
     * it, to the {@code DefaultEndpoint}'s {@code channel}). Cached per connection once known;
     * unknown (no attributes) while the channel is not connected, and for cluster and
     * master/replica connections, whose commands go to several servers.
     */
    static Server lettuceServer(Object commands) {
        try {
            Method getConnection = publicMethod(commands.getClass(), "getConnection");
            Object connection = getConnection == null ? null : getConnection.invoke(commands);
            if (connection == null) {
                return UNKNOWN;
            }
            Server known = SERVERS.get(connection);
            if (known != null) {
                return known;
            }
            Method getWriter = publicMethod(connection.getClass(), "getChannelWriter");
            Object writer = getWriter == null ? null : getWriter.invoke(connection);
            for (int i = 0; i < 8 && writer != null; i++) {
                java.lang.reflect.Field channelField = field(writer.getClass(), "channel");
                if (channelField != null) {
                    Object channel = channelField.get(writer);
                    Method remote = channel == null ? null : publicMethod(channel.getClass(), "remoteAddress");
                    Object address = remote == null ? null : remote.invoke(channel);
                    if (!(address instanceof java.net.InetSocketAddress)) {
                        return UNKNOWN; // not connected yet: asked again next time
                    }
                    java.net.InetSocketAddress a = (java.net.InetSocketAddress) address;
                    return remember(connection, new Server(a.getHostString(), a.getPort()));
                }
                Method getDelegate = publicMethod(writer.getClass(), "getDelegate");
                writer = getDelegate == null ? null : getDelegate.invoke(writer);
            }
            return remember(connection, UNKNOWN); // several servers behind it
        } catch (Throwable t) {
            return UNKNOWN;
        }
    }

    private static Server remember(Object connection, Server server) {
        if (SERVERS.size() < MAX_SERVERS) {
            SERVERS.put(connection, server);
        }
        return server;
    }

    /** The field {@code name} declared by {@code c} or a superclass, made accessible; null if none. */
    private static java.lang.reflect.Field field(Class<?> c, String name) {
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            try {
                java.lang.reflect.Field f = k.getDeclaredField(name);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                // look further up
            } catch (Throwable t) {
                return null;
            }
        }
        return null;
    }

    /** A command's name and its step name id. */
    static final class Command {
        final String name;
        final int id;

        Command(String name, int id) {
            this.name = name;
            this.id = id;
        }
    }

    /** A connection's server host and port. */
    static final class Server {
        final String host;
        final int port;
        final int hostId;

        Server(String host, int port) {
            this.host = host;
            this.port = port;
            this.hostId = host == null ? -1 : ValueNames.id(host);
        }
    }
}
