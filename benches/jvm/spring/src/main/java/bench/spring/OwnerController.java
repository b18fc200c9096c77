package bench.spring;

import org.springframework.http.HttpStatus;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;

/** The bench's route: one owner by id, as a line of text. */
@RestController
public class OwnerController {
    private final OwnerRepository owners;

    OwnerController(OwnerRepository owners) {
        this.owners = owners;
    }

    /** {@code owner 42: First42 Last42, Windsor}; 404 for an unknown id. */
    @GetMapping("/owners/{id}")
    public String owner(@PathVariable("id") long id) {
        Owner o = owners.findById(id).orElseThrow(() -> new ResponseStatusException(HttpStatus.NOT_FOUND));
        return "owner " + o.getId() + ": " + o.getFirstName() + " " + o.getLastName() + ", " + o.getCity();
    }
}
