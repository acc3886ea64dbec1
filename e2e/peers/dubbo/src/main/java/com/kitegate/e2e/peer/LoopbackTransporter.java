package com.kitegate.e2e.peer;

import org.apache.dubbo.common.URL;
import org.apache.dubbo.remoting.ChannelHandler;
import org.apache.dubbo.remoting.Client;
import org.apache.dubbo.remoting.RemotingException;
import org.apache.dubbo.remoting.RemotingServer;
import org.apache.dubbo.remoting.Transporter;

/**
 * Dubbo Transporter SPI extension {@value #NAME} (registered in
 * META-INF/dubbo/org.apache.dubbo.remoting.Transporter), selected with the
 * protocol's {@code server} parameter (provider) or the reference URL's
 * {@code client} parameter (consumer). Both sides are Dubbo's stock Netty 4
 * transport with the loopback-address fixes of {@link LoopbackNettyServer}
 * and {@link LoopbackNettyClient}.
 */
public class LoopbackTransporter implements Transporter {
    public static final String NAME = "kgloopback";

    @Override
    public RemotingServer bind(URL url, ChannelHandler handler) throws RemotingException {
        return new LoopbackNettyServer(url, handler);
    }

    @Override
    public Client connect(URL url, ChannelHandler handler) throws RemotingException {
        return new LoopbackNettyClient(url, handler);
    }
}
