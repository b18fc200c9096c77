package demo.rest;

import jakarta.ws.rs.ApplicationPath;
import jakarta.ws.rs.core.Application;

/** A JAX-RS application at {@code /api}, which WildFly runs on RESTEasy (no web.xml needed). */
@ApplicationPath("/api")
public class RestApp extends Application {}
