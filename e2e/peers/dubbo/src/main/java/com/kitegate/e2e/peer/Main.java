package com.kitegate.e2e.peer;

import java.util.Arrays;

/**
 * Entry point of kitegate-dubbo-peer.jar:
 *
 * <pre>
 *   provider &lt;port&gt; [--with-hello] [--host H] [--no-stdin-watch]
 *            [--registry zookeeper://H:P [--session MS] [--group G] [--version V] [--weight W]]
 *   consumer &lt;host:port&gt; [--timeout MS] [--first N] [--second N] [--message S]
 *            [--heartbeat MS] [--linger MS]
 *   rich-consumer &lt;host:port&gt; [--timeout MS] [--no-timeout-check]
 *   vectors
 * </pre>
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        try {
            dispatch(args[0], rest);
        } catch (Throwable t) {
            // Dubbo leaves non-daemon threads behind: never fall off main() on error.
            System.err.println("kitegate-dubbo-peer " + args[0] + " failed:");
            t.printStackTrace();
            exit(1);
        }
    }

    private static void dispatch(String mode, String[] rest) throws Exception {
        switch (mode) {
            case "provider":
                Provider.run(rest);
                break;
            case "consumer":
                HelloConsumer.run(rest);
                break;
            case "rich-consumer":
                RichConsumer.run(rest);
                break;
            case "vectors":
                Vectors.run(rest);
                break;
            case "-h":
            case "--help":
            case "help":
                usage();
                break;
            default:
                System.err.println("unknown mode: " + mode);
                usage();
                exit(2);
        }
    }

    static void usage() {
        System.err.println("usage: java -jar kitegate-dubbo-peer.jar MODE ...\n"
                + "  provider <port> [--with-hello] [--host H] [--no-stdin-watch]\n"
                + "           [--registry zookeeper://H:P [--session MS] [--group G] [--version V] [--weight W]]\n"
                + "      export com.kitegate.e2e.api.RichService (and kitegate.hello.HelloService with\n"
                + "      --with-hello) on dubbo://H:<port> (H defaults to 127.0.0.1; port 0 = any free\n"
                + "      port); prints 'READY <port>' on stdout; exits on stdin EOF unless --no-stdin-watch\n"
                + "  consumer <host:port> [--timeout MS] [--first N] [--second N] [--message S]\n"
                + "           [--heartbeat MS] [--linger MS]\n"
                + "      call kitegate.hello.HelloService add(first,second) then echo(message);\n"
                + "      prints {\"sum\":N} and {\"message\":S}; exit 0, or 1 with the error on stderr\n"
                + "  rich-consumer <host:port> [--timeout MS] [--no-timeout-check]\n"
                + "      call and check every RichService method (self-test of a provider)\n"
                + "  vectors\n"
                + "      print 'name hex' lines of Hessian2 encodings made by Dubbo's serializer");
    }

    /** Tiny flag parser: returns the value after {@code name}, or {@code def}. */
    static String flag(String[] args, String name, String def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }

    static boolean has(String[] args, String name) {
        for (String a : args) {
            if (a.equals(name)) {
                return true;
            }
        }
        return false;
    }

    /** Flush stdio and leave at once (skips Dubbo's graceful-shutdown wait). */
    static void exit(int code) {
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }
}
