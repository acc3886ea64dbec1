package com.kitegate.e2e.peer;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

import com.kitegate.e2e.api.Counter;
import com.kitegate.e2e.api.RichService;

import kitegate.hello.HelloService;

/** {@code provider <port> [--with-hello] [--with-counter] [--host H] [--no-stdin-watch]}. */
final class Provider {
    private Provider() {
    }

    static void run(String[] args) throws Exception {
        if (args.length < 1) {
            Main.usage();
            Main.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("bad port " + port);
        }
        String host = Main.flag(args, "--host", "127.0.0.1");
        boolean withHello = Main.has(args, "--with-hello");
        if (!Main.has(args, "--no-stdin-watch")) {
            watchStdin();
        }
        Peers.init();

        if (port == 0) {
            // Dubbo maps port 0 to its default 20880, and it finds the exported
            // service by the port the request arrived on, so the real port must
            // be known up front: take one the kernel hands out (racy, like any
            // "find a free port" helper).
            port = freePort(host);
        }
        ProtocolConfig protocol = new ProtocolConfig("dubbo");
        protocol.setPort(port);
        protocol.setHost(host);
        protocol.setServer(LoopbackTransporter.NAME);
        protocol.setSerialization(Peers.SERIALIZATION);
        // Dubbo 3.2+ advertises "prefer.serialization=fastjson2,hessian2" by default.
        protocol.setPreferSerialization(Peers.SERIALIZATION);
        Map<String, String> params = new HashMap<>();
        params.put(LoopbackNettyServer.BIND_HOST_KEY, host);
        protocol.setParameters(params);

        DubboBootstrap bootstrap = DubboBootstrap.getInstance()
                .application(Peers.application("kitegate-dubbo-provider"))
                .registry(new RegistryConfig(RegistryConfig.NO_AVAILABLE))
                .protocol(protocol);

        ServiceConfig<RichService> rich = new ServiceConfig<>();
        rich.setInterface(RichService.class);
        rich.setRef(new RichServiceImpl());
        bootstrap.service(rich);
        if (Main.has(args, "--with-counter")) {
            ServiceConfig<Counter> counter = new ServiceConfig<>();
            counter.setInterface(Counter.class);
            counter.setRef(new CounterImpl(Integer.toString(port)));
            bootstrap.service(counter);
        }
        if (withHello) {
            ServiceConfig<HelloService> hello = new ServiceConfig<>();
            hello.setInterface(HelloService.class);
            hello.setRef(new HelloServiceImpl());
            bootstrap.service(hello);
        }
        bootstrap.start();

        if (LoopbackNettyServer.servers().size() != 1) {
            throw new IllegalStateException("expected one server, got " + LoopbackNettyServer.servers().size());
        }
        int bound = LoopbackNettyServer.servers().get(0).boundPort();
        System.out.println("READY " + bound);
        System.out.flush();
        new CountDownLatch(1).await();
    }

    private static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(host, 0));
            return s.getLocalPort();
        }
    }

    /** Exit when stdin reaches EOF, so a test harness that dies does not leak us. */
    private static void watchStdin() {
        Thread t = new Thread(() -> {
            InputStream in = System.in;
            byte[] buf = new byte[256];
            try {
                while (in.read(buf) >= 0) {
                    // discard
                }
            } catch (IOException e) {
                // treat like EOF
            }
            Main.exit(0);
        }, "stdin-watch");
        t.setDaemon(true);
        t.start();
    }
}
