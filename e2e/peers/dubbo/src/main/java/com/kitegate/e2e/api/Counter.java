package com.kitegate.e2e.api;

/**
 * A service that counts the calls it ran, for the gateway's
 * traffic-management tests (e2e/tests/traffic.rs): a test proves with it
 * that no call was lost or run twice.
 */
public interface Counter {
    /** Adds one to the key's count; returns the new count. Not idempotent. */
    long bump(String key);

    /** The key's count. */
    long count(String key);

    /** After sleeping, the provider's port, as text. */
    String whoami(int sleepMs);
}
