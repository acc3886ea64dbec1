package com.kitegate.e2e.api;

import java.io.Serializable;
import java.util.Date;
import java.util.List;
import java.util.Objects;

/**
 * Nested DTO. Hessian2 field order (class definition):
 * id, amount, items, status, createdAt, total.
 */
public class Order implements Serializable {
    private static final long serialVersionUID = 1L;

    private String id;
    private long amount;
    private List<Item> items;
    private Status status;
    private Date createdAt;
    /** Filled in by {@link RichService#process(Order)}; null on the way in. */
    private Long total;

    public Order() {
    }

    public String getId() {
        return id;
    }

    public void setId(String id) {
        this.id = id;
    }

    public long getAmount() {
        return amount;
    }

    public void setAmount(long amount) {
        this.amount = amount;
    }

    public List<Item> getItems() {
        return items;
    }

    public void setItems(List<Item> items) {
        this.items = items;
    }

    public Status getStatus() {
        return status;
    }

    public void setStatus(Status status) {
        this.status = status;
    }

    public Date getCreatedAt() {
        return createdAt;
    }

    public void setCreatedAt(Date createdAt) {
        this.createdAt = createdAt;
    }

    public Long getTotal() {
        return total;
    }

    public void setTotal(Long total) {
        this.total = total;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Order)) {
            return false;
        }
        Order x = (Order) o;
        return amount == x.amount && Objects.equals(id, x.id) && Objects.equals(items, x.items)
                && status == x.status && Objects.equals(createdAt, x.createdAt) && Objects.equals(total, x.total);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, amount, items, status, createdAt, total);
    }

    @Override
    public String toString() {
        return "Order{id=" + id + ", amount=" + amount + ", items=" + items + ", status=" + status
                + ", createdAt=" + (createdAt == null ? null : createdAt.getTime()) + ", total=" + total + "}";
    }
}
