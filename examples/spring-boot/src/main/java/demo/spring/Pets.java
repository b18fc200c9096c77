package demo.spring;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;

/** A JAX-RS resource (Jersey, mapped at {@code /api/*}): class and method {@code @Path} templates. */
@Path("/pets")
public class Pets {
    /** One pet. */
    @GET
    @Path("/{petId}")
    @Produces("text/plain")
    public String pet(@PathParam("petId") String petId) {
        return "jaxrs pet " + petId;
    }

    /** A pet's toy: two variables. */
    @GET
    @Path("{petId}/toys/{toyId: [0-9]+}")
    @Produces("text/plain")
    public String toy(@PathParam("petId") String petId, @PathParam("toyId") int toyId) {
        return "jaxrs toy " + toyId + " of " + petId;
    }
}
