package com.kitegate.e2e.peer;

import java.util.logging.Level;
import java.util.logging.Logger;

import org.apache.dubbo.common.logger.LoggerFactory;
import org.apache.dubbo.config.ApplicationConfig;

/** Dubbo settings shared by every mode. */
final class Peers {
    /** Dubbo's name for the serialization: id 2 in the frame header. */
    static final String SERIALIZATION = "hessian2";

    private Peers() {
    }

    /**
     * Must run before any Dubbo class is used: logging, shutdown wait and the
     * serialization allow-list are read from system properties early.
     */
    static void init() {
        // Dubbo logs through java.util.logging (no slf4j/log4j in the jar); its
        // adapter loads logging.properties from the jar (WARNING, to stderr),
        // so stdout stays machine-readable. Create it now, then apply the
        // KITEGATE_DUBBO_LOG override on top.
        setIfAbsent("dubbo.application.logger", "jdk");
        LoggerFactory.getLogger(Peers.class);
        String level = System.getenv("KITEGATE_DUBBO_LOG");
        if (level != null && !level.isEmpty()) {
            Level l = Level.parse(level.toUpperCase());
            Logger root = Logger.getLogger("");
            root.setLevel(l);
            for (java.util.logging.Handler h : root.getHandlers()) {
                h.setLevel(l);
            }
        }
        // Graceful shutdown waits for connected clients up to this long (default 10 s).
        setIfAbsent("dubbo.service.shutdown.wait", "1000");
        // Accept any class in Hessian2 payloads (Dubbo 3.2+ checks an allow-list).
        setIfAbsent("dubbo.application.serialize-check-status", "DISABLE");
        setIfAbsent("dubbo.application.check-serializable", "false");
    }

    static ApplicationConfig application(String name) {
        ApplicationConfig app = new ApplicationConfig(name);
        // No QoS telnet/HTTP server (it would bind port 22222 on 0.0.0.0).
        app.setQosEnable(false);
        // Plain POJOs, enums, JDK exceptions: no allow-list, no Serializable check.
        app.setSerializeCheckStatus("DISABLE");
        app.setCheckSerializable(false);
        // No ~/.dubbo/ metadata and mapping cache files.
        app.setEnableFileCache(false);
        // Interface-level only: no application-level service discovery/metadata.
        app.setRegisterMode("interface");
        app.setMetadataType("local");
        return app;
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
