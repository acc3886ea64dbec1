package com.kitegate.e2e.peer;

import java.util.HashMap;
import java.util.Map;

import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

import kitegate.hello.AddRequest;
import kitegate.hello.AddResponse;
import kitegate.hello.HelloService;
import kitegate.hello.Request;
import kitegate.hello.Response;

/**
 * {@code consumer <host:port> [--timeout MS] [--first N] [--second N] [--message S]
 * [--heartbeat MS] [--linger MS]}: calls kitegate.hello.HelloService over a
 * direct dubbo:// URL (no registry), prints one JSON object per call on
 * stdout, exits 0; on any failure prints the exception on stderr and exits 1.
 * --heartbeat sets Dubbo's client heartbeat interval (default 60000 ms) and
 * --linger keeps the idle connection open that long before exiting, e.g. to
 * see heartbeat events.
 */
final class HelloConsumer {
    private HelloConsumer() {
    }

    static void run(String[] args) {
        if (args.length < 1) {
            Main.usage();
            Main.exit(2);
        }
        String target = args[0];
        int timeout = Integer.parseInt(Main.flag(args, "--timeout", "5000"));
        long first = Long.parseLong(Main.flag(args, "--first", "512"));
        long second = Long.parseLong(Main.flag(args, "--second", "512"));
        String message = Main.flag(args, "--message", "my request");
        String heartbeat = Main.flag(args, "--heartbeat", null);
        long linger = Long.parseLong(Main.flag(args, "--linger", "0"));
        Peers.init();

        ReferenceConfig<HelloService> ref = referenceConfig(HelloService.class, target, timeout);
        if (heartbeat != null) {
            ref.getParameters().put("heartbeat", heartbeat);
        }
        DubboBootstrap.getInstance()
                .application(Peers.application("kitegate-dubbo-consumer"))
                .reference(ref)
                .start();
        HelloService hello = ref.get();
        AddResponse sum = hello.add(new AddRequest(first, second));
        System.out.println("{\"sum\":" + sum.getSum() + "}");
        System.out.flush();
        Response echo = hello.echo(new Request(message));
        System.out.println("{\"message\":" + Json.str(echo.getMessage()) + "}");
        System.out.flush();
        if (linger > 0) {
            try {
                Thread.sleep(linger);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Main.exit(0);
    }

    /** A direct-connection, hessian2, no-retry reference to {@code iface} at host:port. */
    static <T> ReferenceConfig<T> referenceConfig(Class<T> iface, String target, int timeoutMillis) {
        ReferenceConfig<T> ref = new ReferenceConfig<>();
        ref.setInterface(iface);
        // Direct connection: no registry. The reference's parameters are merged
        // into this URL, and DubboCodec encodes requests with its serialization.
        // client=kgloopback: really dial 127.0.0.1 (see LoopbackNettyClient).
        ref.setUrl("dubbo://" + target + "?serialization=" + Peers.SERIALIZATION
                + "&client=" + LoopbackTransporter.NAME);
        ref.setTimeout(timeoutMillis);
        ref.setRetries(0);
        ref.setCheck(true);
        Map<String, String> params = new HashMap<>();
        params.put("serialization", Peers.SERIALIZATION);
        params.put("client", LoopbackTransporter.NAME);
        ref.setParameters(params);
        return ref;
    }
}
