package bench.spring;

import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.Id;

/** An owner, as in Spring's pet clinic. */
@Entity
public class Owner {
    @Id
    @GeneratedValue
    private Long id;
    private String firstName;
    private String lastName;
    private String city;

    protected Owner() {
    }

    Owner(String firstName, String lastName, String city) {
        this.firstName = firstName;
        this.lastName = lastName;
        this.city = city;
    }

    public Long getId() {
        return id;
    }

    public String getFirstName() {
        return firstName;
    }

    public String getLastName() {
        return lastName;
    }

    public String getCity() {
        return city;
    }
}
