package com.kitegate.e2e.peer;

import org.apache.dubbo.common.URL;
import org.apache.dubbo.registry.integration.ServiceURLCustomizer;
import org.apache.dubbo.rpc.model.ApplicationModel;

/**
 * Registers the provider under the loopback address it listens on. Dubbo
 * replaces a 127.x host with the machine's first other address before it
 * registers (ServiceConfig.findConfiguredHosts), and refuses 127.0.0.1 in
 * DUBBO_IP_TO_REGISTRY; tests bind loopback only, so the registered URL is
 * given back the host the server was bound to.
 */
public final class LoopbackUrlCustomizer implements ServiceURLCustomizer {
    @Override
    public URL customize(URL url, ApplicationModel model) {
        String host = url.getParameter(LoopbackNettyServer.BIND_HOST_KEY);
        return host == null ? url : url.setHost(host);
    }

    @Override
    public int getPriority() {
        // After Dubbo's own customizer, which drops parameters but keeps ours.
        return 0;
    }
}
