package com.kitegate.e2e.peer;

import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.kitegate.e2e.api.Item;
import com.kitegate.e2e.api.Order;
import com.kitegate.e2e.api.RichException;
import com.kitegate.e2e.api.RichService;
import com.kitegate.e2e.api.Status;

/** Reference implementation; README.md documents each result. */
public class RichServiceImpl implements RichService {
    static final long DAY_MILLIS = 24L * 60 * 60 * 1000;

    @Override
    public int add(int a, int b) {
        return a + b;
    }

    @Override
    public long addLong(long a, long b) {
        return a + b;
    }

    @Override
    public double scale(double x, double factor) {
        return x * factor;
    }

    @Override
    public boolean not(boolean b) {
        return !b;
    }

    @Override
    public String greet(String name) {
        return "hello " + name;
    }

    @Override
    public Long addBoxed(Integer a, Long b) {
        if (a == null || b == null) {
            return null;
        }
        return a.longValue() + b;
    }

    @Override
    public List<Integer> doubled(List<Integer> xs) {
        if (xs == null) {
            return null;
        }
        List<Integer> out = new ArrayList<>(xs.size());
        for (Integer x : xs) {
            out.add(x == null ? null : x * 2);
        }
        return out;
    }

    @Override
    public Map<String, Long> lengths(List<String> words) {
        if (words == null) {
            return null;
        }
        Map<String, Long> out = new HashMap<>();
        for (String w : words) {
            out.put(w, w == null ? null : (long) w.codePointCount(0, w.length()));
        }
        return out;
    }

    @Override
    public Map<String, Integer> counts(Map<String, Integer> in) {
        if (in == null) {
            return null;
        }
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Map.Entry<String, Integer> e : in.entrySet()) {
            Integer v = e.getValue();
            out.put(e.getKey(), v == null ? null : v + 1);
        }
        return out;
    }

    @Override
    public Order process(Order order) {
        if (order == null) {
            return null;
        }
        double sum = 0;
        List<Item> items = order.getItems() == null ? new ArrayList<>() : order.getItems();
        for (Item i : items) {
            sum += i.getQty() * i.getPrice();
        }
        Order out = new Order();
        out.setId(order.getId());
        out.setAmount(order.getAmount());
        out.setItems(order.getItems());
        out.setStatus(Status.PAID);
        out.setCreatedAt(order.getCreatedAt());
        out.setTotal(Math.round(sum));
        return out;
    }

    @Override
    public Status next(Status s) {
        if (s == null) {
            return null;
        }
        switch (s) {
            case NEW:
                return Status.PAID;
            case PAID:
            case SHIPPED:
            default:
                return Status.SHIPPED;
        }
    }

    @Override
    public Date plusDays(Date d, int days) {
        if (d == null) {
            return null;
        }
        return new Date(d.getTime() + days * DAY_MILLIS);
    }

    @Override
    public byte[] reverse(byte[] b) {
        if (b == null) {
            return null;
        }
        byte[] out = new byte[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[b.length - 1 - i];
        }
        return out;
    }

    @Override
    public void ping() {
    }

    @Override
    public String nothing() {
        return null;
    }

    @Override
    public String fail(String msg) {
        throw new IllegalArgumentException(msg);
    }

    @Override
    public String failChecked(String msg) throws RichException {
        throw new RichException("E_RICH", msg);
    }

    @Override
    public String sleep(int millis) {
        try {
            Thread.sleep(Math.max(0, millis));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "slept " + millis;
    }
}
