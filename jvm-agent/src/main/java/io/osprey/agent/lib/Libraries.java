package io.osprey.agent.lib;

import io.osprey.agent.lib.executor.ExecutorLibrary;
import io.osprey.agent.lib.hibernate.HibernateLibrary;
import io.osprey.agent.lib.httpclient.HttpClientLibrary;
import io.osprey.agent.lib.jaxrs.JaxrsLibrary;
import io.osprey.agent.lib.jaxrsresources.JaxrsResourcesLibrary;
import io.osprey.agent.lib.jdbc.JdbcLibrary;
import io.osprey.agent.lib.logs.LogsLibrary;
import io.osprey.agent.lib.kafka.KafkaLibrary;
import io.osprey.agent.lib.okhttp.OkHttpLibrary;
import io.osprey.agent.lib.quartz.QuartzLibrary;
import io.osprey.agent.lib.reactor.ReactorLibrary;
import io.osprey.agent.lib.redis.RedisLibrary;
import io.osprey.agent.lib.scheduled.ScheduledLibrary;
import io.osprey.agent.lib.servlet.ServletLibrary;
import io.osprey.agent.lib.springdata.SpringDataLibrary;
import io.osprey.agent.lib.springmvc.SpringMvcLibrary;
import io.osprey.agent.lib.springwebflux.SpringWebFluxLibrary;
import io.osprey.agent.lib.thymeleaf.ThymeleafLibrary;
import io.osprey.agent.lib.tomcat.TomcatLibrary;
import io.osprey.agent.lib.undertow.UndertowLibrary;
import io.osprey.agent.lib.views.ViewsLibrary;
import io.osprey.agent.lib.webclient.WebClientLibrary;
import io.osprey.agent.lib.webflux.WebFluxLibrary;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The one list of instrumented libraries, in the order the transformer asks them. */
public final class Libraries {
    private Libraries() {}

    /**
     * Every library, new instances (a library's transform keeps per-class-loader state, so one
     * agent start makes one set).
     */
    public static List<Library> all() {
        return Collections.unmodifiableList(Arrays.<Library>asList(
                new TomcatLibrary(),
                new UndertowLibrary(),
                new ServletLibrary(),
                new JaxrsLibrary(),
                new JdbcLibrary(),
                new HttpClientLibrary(),
                new ExecutorLibrary(),
                new LogsLibrary(),
                new RedisLibrary(),
                new KafkaLibrary(),
                new ScheduledLibrary(),
                new QuartzLibrary(),
                new OkHttpLibrary(),
                new SpringMvcLibrary(),
                new WebFluxLibrary(),
                new SpringWebFluxLibrary(),
                new WebClientLibrary(),
                new ReactorLibrary(),
                new ViewsLibrary(),
                new ThymeleafLibrary(),
                new JaxrsResourcesLibrary(),
                new SpringDataLibrary(),
                new HibernateLibrary()));
    }

    /** Every configuration key of every library: switches and their own keys. */
    public static Set<String> keys() {
        Set<String> out = new LinkedHashSet<String>();
        for (Library l : all()) {
            out.add(l.switchKey());
            out.addAll(l.keys());
        }
        return out;
    }

    /** The libraries {@code settings} leaves switched on. */
    public static List<Library> enabled(Settings settings) {
        List<Library> out = new ArrayList<Library>();
        for (Library l : all()) {
            if (settings.flagOn(l.switchKey())) {
                out.add(l);
            }
        }
        return out;
    }
}
