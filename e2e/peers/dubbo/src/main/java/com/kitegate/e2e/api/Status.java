package com.kitegate.e2e.api;

/** Order state; Hessian2 writes an enum as an object with the single field {@code name}. */
public enum Status {
    NEW,
    PAID,
    SHIPPED
}
