package demo.shop;

import jakarta.persistence.Entity;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** An order of one item, with the buyer's note (a value that must never leave the process). */
@Entity
@Table(name = "orders")
public class Order {
    @Id
    @GeneratedValue(strategy = GenerationType.IDENTITY)
    private Long id;
    private String item;
    private String note;

    protected Order() {}

    public Order(String item, String note) {
        this.item = item;
        this.note = note;
    }

    public Long getId() {
        return id;
    }

    public String getItem() {
        return item;
    }

    public String getNote() {
        return note;
    }
}
