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

/**
 * {@code provider <port> [--with-hello] [--with-counter] [--host H] [--no-stdin-watch]
 * [--registry zookeeper://H:P [--session MS] [--group G] [--version V] [--weight W]]}.
 *
 * <p>With {@code --registry} the services register in ZooKeeper through Dubbo's own
 * ZooKeeper registry, at interface level ({@code /dubbo/<interface>/providers/<URL>},
 * ephemeral nodes, gone on a graceful stop or when the session of {@code --session} ms
 * expires); {@code --group}, {@code --version} and {@code --weight} apply to Counter.
 */
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

        String registryAddress = Main.flag(args, "--registry", null);
        RegistryConfig registry;
        if (registryAddress == null) {
            registry = new RegistryConfig(RegistryConfig.NO_AVAILABLE);
        } else {
            registry = new RegistryConfig(registryAddress);
            // The registry's ZooKeeper session: its ephemeral nodes outlive a
            // killed provider by this long.
            registry.setSession(Integer.parseInt(Main.flag(args, "--session", "3000")));
            registry.setTimeout(5000);
            registry.setRegisterMode("interface");
            // As config or metadata centre the registry would share a client
            // made with the default 60 s session, and write more nodes.
            registry.setUseAsConfigCenter(false);
            registry.setUseAsMetadataCenter(false);
        }
        DubboBootstrap bootstrap = DubboBootstrap.getInstance()
                .application(Peers.application("kitegate-dubbo-provider"))
                .registry(registry)
                .protocol(protocol);

        ServiceConfig<RichService> rich = new ServiceConfig<>();
        rich.setInterface(RichService.class);
        rich.setRef(new RichServiceImpl());
        bootstrap.service(rich);
        if (Main.has(args, "--with-counter")) {
            ServiceConfig<Counter> counter = new ServiceConfig<>();
            counter.setInterface(Counter.class);
            counter.setRef(new CounterImpl(Integer.toString(port)));
            String group = Main.flag(args, "--group", null);
            String version = Main.flag(args, "--version", null);
            String weight = Main.flag(args, "--weight", null);
            if (group != null) {
                counter.setGroup(group);
            }
            if (version != null) {
                counter.setVersion(version);
            }
            if (weight != null) {
                counter.setWeight(Integer.parseInt(weight));
            }
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
