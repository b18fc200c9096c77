package demo.jpa;

import jakarta.persistence.Entity;
import jakarta.persistence.EntityManager;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import java.util.List;
import org.hibernate.SessionFactory;
import org.hibernate.cfg.Configuration;
import org.springframework.data.jpa.repository.JpaRepository;
import org.springframework.data.jpa.repository.support.JpaRepositoryFactory;

/**
 * JPA as applications use it, against the PostgreSQL server the test started: Hibernate ORM as
 * the {@code EntityManager} and a Spring Data JPA repository (made by its factory, no Spring
 * container). The schema is made at start-up outside any transaction; {@link #requestRegister}
 * (a transaction under {@code hook.transactions}) saves an owner through the repository, finds it
 * by a derived query, flushes and commits. Prints the same lines with and without the agent.
 *
 * <p>Arguments: JDBC URL, user.
 */
public final class JpaApp {
    private JpaApp() {}

    /** An owner. */
    @Entity
    public static class Owner {
        @Id
        @GeneratedValue(strategy = GenerationType.IDENTITY)
        Long id;

        String name;

        public Owner() {}

        Owner(String name) {
            this.name = name;
        }
    }

    /** Spring Data's repository of owners, with a derived query. */
    public interface OwnerRepository extends JpaRepository<Owner, Long> {
        List<Owner> findByName(String name);
    }

    public static void main(String[] args) {
        Configuration cfg = new Configuration().addAnnotatedClass(Owner.class)
                .setProperty("hibernate.connection.url", args[0])
                .setProperty("hibernate.connection.username", args[1])
                .setProperty("hibernate.connection.password", "")
                .setProperty("hibernate.hbm2ddl.auto", "create-drop");
        try (SessionFactory sf = cfg.buildSessionFactory()) {
            EntityManager em = sf.createEntityManager();
            OwnerRepository owners = new JpaRepositoryFactory(em).getRepository(OwnerRepository.class);
            System.out.println(requestRegister(em, owners, "ann"));
            em.close();
        }
    }

    /** Save, a derived query, flush, commit. */
    public static String requestRegister(EntityManager em, OwnerRepository owners, String name) {
        em.getTransaction().begin();
        owners.save(new Owner(name));
        int found = owners.findByName(name).size();
        em.flush();
        em.getTransaction().commit();
        return "registered " + name + " found " + found;
    }
}
