package com.kitegate.e2e.peer;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.apache.dubbo.common.URL;
import org.apache.dubbo.remoting.ChannelHandler;
import org.apache.dubbo.remoting.RemotingException;
import org.apache.dubbo.remoting.transport.netty4.NettyServer;

/**
 * Dubbo's stock Netty 4 server, except for the address it binds.
 *
 * <p>Dubbo treats every 127.x address (and "localhost") as an "invalid local
 * host": {@code ServiceConfig} then sets {@code anyhost=true} and
 * {@code AbstractServer} binds 0.0.0.0, whatever {@code host} says. This
 * subclass binds the URL parameter {@value #BIND_HOST_KEY} (default
 * 127.0.0.1) and Dubbo's own bind port. Everything else, codec and handlers
 * included, is Dubbo's own code.
 */
public class LoopbackNettyServer extends NettyServer {
    static final String BIND_HOST_KEY = "kitegate.bind.host";

    private static final List<LoopbackNettyServer> SERVERS = new CopyOnWriteArrayList<>();

    public LoopbackNettyServer(URL url, ChannelHandler handler) throws RemotingException {
        super(url, handler);
        SERVERS.add(this);
    }

    /** Called from doOpen() while the super constructor runs: uses only the URL. */
    @Override
    public InetSocketAddress getBindAddress() {
        URL url = getUrl();
        String host = url.getParameter(BIND_HOST_KEY, "127.0.0.1");
        int port = url.getParameter("bind.port", url.getPort());
        return new InetSocketAddress(host, port);
    }

    /** The port actually bound. */
    public int boundPort() {
        SocketAddress a = getBossChannel().localAddress();
        return ((InetSocketAddress) a).getPort();
    }

    static List<LoopbackNettyServer> servers() {
        return SERVERS;
    }
}
