package com.kitegate.e2e.peer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;

import org.apache.dubbo.config.MethodConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.rpc.RpcException;

import com.kitegate.e2e.api.Item;
import com.kitegate.e2e.api.Order;
import com.kitegate.e2e.api.RichException;
import com.kitegate.e2e.api.RichService;
import com.kitegate.e2e.api.Status;

/**
 * {@code rich-consumer <host:port> [--timeout MS] [--no-timeout-check]}: calls
 * every RichService method once over a direct dubbo:// URL and checks the
 * result. Prints "ok NAME" / "FAIL NAME ..." lines, exits 0 only if all pass.
 * {@code sleep} has a 1000 ms method timeout; sleep(3000) must time out.
 */
final class RichConsumer {
    static final long CREATED_AT = 1700000000123L;

    private int ok;
    private int failed;

    private RichConsumer() {
    }

    static void run(String[] args) {
        if (args.length < 1) {
            Main.usage();
            Main.exit(2);
        }
        int timeout = Integer.parseInt(Main.flag(args, "--timeout", "5000"));
        boolean timeoutCheck = !Main.has(args, "--no-timeout-check");
        Peers.init();
        ReferenceConfig<RichService> ref = HelloConsumer.referenceConfig(RichService.class, args[0], timeout);
        MethodConfig sleep = new MethodConfig();
        sleep.setName("sleep");
        sleep.setTimeout(1000);
        sleep.setRetries(0);
        ref.setMethods(Collections.singletonList(sleep));
        DubboBootstrap.getInstance()
                .application(Peers.application("kitegate-dubbo-rich-consumer"))
                .reference(ref)
                .start();
        RichConsumer c = new RichConsumer();
        c.all(ref.get(), timeoutCheck);
        System.out.println("rich-consumer: " + c.ok + " ok, " + c.failed + " failed");
        Main.exit(c.failed == 0 ? 0 : 1);
    }

    static Order sampleOrder() {
        Order o = new Order();
        o.setId("o-1");
        o.setAmount(1500);
        o.setItems(new ArrayList<>(Arrays.asList(new Item("sku-1", 2, 9.99), new Item("sku-2", 1, 100.0))));
        o.setStatus(Status.NEW);
        o.setCreatedAt(new Date(CREATED_AT));
        return o;
    }

    private void all(RichService s, boolean timeoutCheck) {
        check("add", 1024, () -> s.add(512, 512));
        check("add.overflow", Integer.MIN_VALUE, () -> s.add(Integer.MAX_VALUE, 1));
        check("addLong", 5_000_000_000L, () -> s.addLong(4_000_000_000L, 1_000_000_000L));
        check("scale", 3.75, () -> s.scale(1.5, 2.5));
        check("not", false, () -> s.not(true));
        check("greet", "hello world", () -> s.greet("world"));
        check("greet.unicode", "hello 世界", () -> s.greet("世界"));
        check("addBoxed", 42L, () -> s.addBoxed(40, 2L));
        check("addBoxed.null", null, () -> s.addBoxed(null, 2L));
        check("doubled", Arrays.asList(2, 4, -6), () -> s.doubled(Arrays.asList(1, 2, -3)));
        Map<String, Long> lengths = new HashMap<>();
        lengths.put("a", 1L);
        lengths.put("hello", 5L);
        check("lengths", lengths, () -> s.lengths(Arrays.asList("a", "hello")));
        Map<String, Integer> in = new LinkedHashMap<>();
        in.put("x", 1);
        in.put("y", 41);
        Map<String, Integer> bumped = new HashMap<>();
        bumped.put("x", 2);
        bumped.put("y", 42);
        check("counts", bumped, () -> s.counts(in));
        Order expected = sampleOrder();
        expected.setStatus(Status.PAID);
        expected.setTotal(120L);
        check("process", expected, () -> s.process(sampleOrder()));
        check("next", Status.SHIPPED, () -> s.next(Status.PAID));
        check("plusDays", new Date(CREATED_AT + 2 * RichServiceImpl.DAY_MILLIS),
                () -> s.plusDays(new Date(CREATED_AT), 2));
        check("reverse", new byte[] {3, 2, 1, 0}, () -> s.reverse(new byte[] {0, 1, 2, 3}));
        check("ping", null, () -> {
            s.ping();
            return null;
        });
        check("nothing", null, s::nothing);
        expectThrow("fail", () -> s.fail("boom"),
                t -> t instanceof IllegalArgumentException && "boom".equals(t.getMessage()));
        expectThrow("failChecked", () -> s.failChecked("bad"),
                t -> t instanceof RichException && "bad".equals(t.getMessage())
                        && "E_RICH".equals(((RichException) t).getCode()));
        check("sleep", "slept 50", () -> s.sleep(50));
        if (timeoutCheck) {
            expectThrow("sleep.timeout", () -> s.sleep(3000),
                    t -> t instanceof RpcException && ((RpcException) t).isTimeout());
        }
    }

    private void check(String name, Object want, Callable<Object> call) {
        try {
            Object got = call.call();
            if (Objects.deepEquals(want, got)) {
                ok++;
                System.out.println("ok " + name + " " + show(got));
            } else {
                failed++;
                System.out.println("FAIL " + name + " want " + show(want) + " got " + show(got));
            }
        } catch (Throwable t) {
            failed++;
            System.out.println("FAIL " + name + " threw " + t);
        }
        System.out.flush();
    }

    private void expectThrow(String name, Callable<Object> call, java.util.function.Predicate<Throwable> want) {
        try {
            Object got = call.call();
            failed++;
            System.out.println("FAIL " + name + " returned " + show(got));
        } catch (Throwable t) {
            if (want.test(t)) {
                ok++;
                System.out.println("ok " + name + " threw " + t.getClass().getName() + ": " + t.getMessage());
            } else {
                failed++;
                System.out.println("FAIL " + name + " threw unexpected " + t);
            }
        }
        System.out.flush();
    }

    private static String show(Object o) {
        if (o instanceof byte[]) {
            return Arrays.toString((byte[]) o);
        }
        if (o instanceof Date) {
            return "Date(" + ((Date) o).getTime() + ")";
        }
        return String.valueOf(o);
    }

}
