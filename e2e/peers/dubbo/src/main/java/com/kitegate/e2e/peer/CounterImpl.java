package com.kitegate.e2e.peer;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import com.kitegate.e2e.api.Counter;

/** Counts every call it ran, per key. */
public class CounterImpl implements Counter {
    private final ConcurrentHashMap<String, AtomicLong> counts = new ConcurrentHashMap<>();
    private final String name;

    CounterImpl(String name) {
        this.name = name;
    }

    @Override
    public long bump(String key) {
        return counts.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
    }

    @Override
    public long count(String key) {
        AtomicLong n = counts.get(key);
        return n == null ? 0 : n.get();
    }

    @Override
    public String whoami(int sleepMs) {
        if (sleepMs > 0) {
            try {
                Thread.sleep(sleepMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return name;
    }
}
