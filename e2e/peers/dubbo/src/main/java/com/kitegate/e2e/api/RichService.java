package com.kitegate.e2e.api;

import java.util.Date;
import java.util.List;
import java.util.Map;

/**
 * The service the kitegate end-to-end tests call through the gateway's Dubbo
 * backend. Every method is deterministic except {@link #sleep(int)}; the
 * exact semantics are listed in README.md.
 */
public interface RichService {
    // primitives
    int add(int a, int b);

    long addLong(long a, long b);

    double scale(double x, double factor);

    boolean not(boolean b);

    // strings
    String greet(String name);

    // boxed types; null if either argument is null
    Long addBoxed(Integer a, Long b);

    // collections
    List<Integer> doubled(List<Integer> xs);

    Map<String, Long> lengths(List<String> words);

    Map<String, Integer> counts(Map<String, Integer> in);

    // nested DTO with list, enum and Date fields
    Order process(Order order);

    // enum
    Status next(Status s);

    // java.util.Date
    Date plusDays(Date d, int days);

    // binary
    byte[] reverse(byte[] b);

    // void and null
    void ping();

    String nothing();

    // exceptions
    String fail(String msg);

    String failChecked(String msg) throws RichException;

    // slow call, for timeout tests
    String sleep(int millis);
}
