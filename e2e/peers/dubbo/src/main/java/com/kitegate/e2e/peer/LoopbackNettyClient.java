package com.kitegate.e2e.peer;

import java.net.InetSocketAddress;

import org.apache.dubbo.common.URL;
import org.apache.dubbo.remoting.ChannelHandler;
import org.apache.dubbo.remoting.RemotingException;
import org.apache.dubbo.remoting.transport.netty4.NettyClient;

/**
 * Dubbo's stock Netty 4 client, except that it connects to the URL's host as
 * given. Stock {@code AbstractClient.getConnectAddress()} runs the host
 * through {@code NetUtils.filterLocalHost}, which replaces 127.x/localhost
 * with the machine's first non-loopback address, so a plain Dubbo consumer
 * told "dubbo://127.0.0.1:P" actually dials e.g. 192.0.2.2:P.
 */
public class LoopbackNettyClient extends NettyClient {
    public LoopbackNettyClient(URL url, ChannelHandler handler) throws RemotingException {
        super(url, handler);
    }

    @Override
    public InetSocketAddress getConnectAddress() {
        return new InetSocketAddress(getUrl().getHost(), getUrl().getPort());
    }
}
