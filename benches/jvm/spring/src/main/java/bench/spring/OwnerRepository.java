package bench.spring;

import org.springframework.data.jpa.repository.JpaRepository;

/** Owners in H2, through Spring Data JPA. */
public interface OwnerRepository extends JpaRepository<Owner, Long> {
}
