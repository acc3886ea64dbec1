package com.kitegate.e2e.api;

import java.io.Serializable;
import java.util.Objects;

/** Order line. Hessian2 field order (class definition): sku, qty, price. */
public class Item implements Serializable {
    private static final long serialVersionUID = 1L;

    private String sku;
    private int qty;
    private double price;

    public Item() {
    }

    public Item(String sku, int qty, double price) {
        this.sku = sku;
        this.qty = qty;
        this.price = price;
    }

    public String getSku() {
        return sku;
    }

    public void setSku(String sku) {
        this.sku = sku;
    }

    public int getQty() {
        return qty;
    }

    public void setQty(int qty) {
        this.qty = qty;
    }

    public double getPrice() {
        return price;
    }

    public void setPrice(double price) {
        this.price = price;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Item)) {
            return false;
        }
        Item i = (Item) o;
        return qty == i.qty && Double.compare(price, i.price) == 0 && Objects.equals(sku, i.sku);
    }

    @Override
    public int hashCode() {
        return Objects.hash(sku, qty, price);
    }

    @Override
    public String toString() {
        return "Item{sku=" + sku + ", qty=" + qty + ", price=" + price + "}";
    }
}
