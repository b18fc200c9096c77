package demo.rest;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;

/** Resource methods with URI templates, one with a regular expression, and one that throws. */
@Path("/pets")
@Produces("text/plain")
public class Pets {
    @GET
    @Path("{id}")
    public String pet(@PathParam("id") String id) {
        return "pet " + id;
    }

    @GET
    @Path("{id}/toys/{toy: [a-z]+}")
    public String toy(@PathParam("id") String id, @PathParam("toy") String toy) {
        return "pet " + id + " toy " + toy;
    }

    @GET
    @Path("{id}/fail")
    public String fail(@PathParam("id") String id) {
        throw new IllegalStateException("no pet " + id);
    }
}
