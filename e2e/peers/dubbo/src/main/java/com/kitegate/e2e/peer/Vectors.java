package com.kitegate.e2e.peer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.dubbo.common.URL;
import org.apache.dubbo.common.Version;
import org.apache.dubbo.common.serialize.ObjectInput;
import org.apache.dubbo.common.serialize.ObjectOutput;
import org.apache.dubbo.common.serialize.Serialization;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.rpc.model.FrameworkModel;

import com.kitegate.e2e.api.Order;
import com.kitegate.e2e.api.RichException;
import com.kitegate.e2e.api.Status;

import kitegate.hello.AddRequest;
import kitegate.hello.AddResponse;
import kitegate.hello.Request;
import kitegate.hello.Response;

/**
 * {@code vectors}: prints "name hex" lines, each one Hessian2 stream written
 * by Dubbo's own hessian2 Serialization extension (Hessian2ObjectOutput over
 * hessian-lite's com.alibaba.com.caucho.hessian.io.Hessian2Output), exactly
 * as DubboCodec writes a body. Every vector is read back with Dubbo's
 * Hessian2ObjectInput and checked, so the bytes are known to round-trip.
 */
final class Vectors {
    private final Serialization hessian2;
    private final URL url = URL.valueOf("dubbo://127.0.0.1:1?serialization=hessian2");

    private Vectors() {
        hessian2 = FrameworkModel.defaultModel().getExtensionLoader(Serialization.class).getExtension("hessian2");
    }

    interface Writer {
        void write(ObjectOutput out) throws IOException;
    }

    interface Reader {
        boolean read(ObjectInput in) throws Exception;

    }

    static void run(String[] args) throws Exception {
        Peers.init();
        // The serialize-check settings take effect when an application starts
        // (without one, Dubbo 3.3 is STRICT and rejects Order on write).
        DubboBootstrap.getInstance().application(Peers.application("kitegate-dubbo-vectors")).start();
        new Vectors().all();
        Main.exit(0);
    }

    private void all() throws Exception {
        Order order = RichConsumer.sampleOrder();
        obj("order", order);
        obj("order_processed", new RichServiceImpl().process(RichConsumer.sampleOrder()));
        obj("list_int", new ArrayList<>(Arrays.asList(1, 2, 3, -1, 1000)));
        Map<String, Long> hm = new HashMap<>();
        hm.put("a", 1L);
        hm.put("bb", 2L);
        hm.put("big", 5_000_000_000L);
        obj("hashmap_string_long", hm);
        Map<String, Integer> lhm = new LinkedHashMap<>();
        lhm.put("x", 1);
        lhm.put("y", 41);
        obj("linkedhashmap_string_int", lhm);
        obj("long_null", null);
        obj("long_1024", 1024L);
        obj("long_5000000000", 5_000_000_000L);
        obj("int_1024", 1024);
        obj("int_min", Integer.MIN_VALUE);
        obj("double_3_75", 3.75);
        obj("double_119_98", 119.98);
        obj("bool_true", Boolean.TRUE);
        obj("string_hello_world_cjk", "hello 世界");
        obj("enum_status_paid", Status.PAID);
        obj("date_millis", new Date(RichConsumer.CREATED_AT));
        obj("date_minute_aligned", new Date(1700000040000L));
        obj("bytes_0123", new byte[] {0, 1, 2, 3});
        obj("hello_add_request", new AddRequest(512, 512));
        obj("hello_add_response", new AddResponse(1024));
        obj("hello_request", new Request("my request"));
        obj("hello_response", new Response("my request"));
        // Two objects of the same class in one stream: the class definition
        // ('C') is written once, the second instance refers to it by number.
        vector("two_add_requests_one_stream", out -> {
            out.writeObject(new AddRequest(1, 2));
            out.writeObject(new AddRequest(3, 4));
        }, in -> {
            AddRequest a = in.readObject(AddRequest.class);
            AddRequest b = in.readObject(AddRequest.class);
            return a.getFirst() == 1 && a.getSecond() == 2 && b.getFirst() == 3 && b.getSecond() == 4;
        });

        // Response bodies exactly as DubboCodec.encodeResponseData writes them
        // (the frame's 16-byte header is not included; see the wire.* vectors).
        Map<String, Object> attachments = new HashMap<>();
        attachments.put("dubbo", Version.getProtocolVersion());
        vector("response_body_value_add_1024", out -> {
            out.writeByte((byte) 4); // RESPONSE_VALUE_WITH_ATTACHMENTS
            out.writeObject(1024);
            out.writeAttachments(attachments);
        }, in -> in.readByte() == 4 && Integer.valueOf(1024).equals(in.readObject())
                && attachments.equals(in.readAttachments()));
        vector("response_body_null_with_attachments", out -> {
            out.writeByte((byte) 5); // RESPONSE_NULL_VALUE_WITH_ATTACHMENTS
            out.writeAttachments(attachments);
        }, in -> in.readByte() == 5 && attachments.equals(in.readAttachments()));
        // The stack trace is pinned to one element so the bytes are stable; a
        // real provider sends the whole trace (see wire.rich.fail.response).
        IllegalArgumentException boom = new IllegalArgumentException("boom");
        boom.setStackTrace(new StackTraceElement[] {
            new StackTraceElement("com.kitegate.e2e.peer.RichServiceImpl", "fail", "RichServiceImpl.java", 150)
        });
        vector("response_body_exception_illegal_argument_boom", out -> {
            out.writeByte((byte) 3); // RESPONSE_WITH_EXCEPTION_WITH_ATTACHMENTS
            out.writeThrowable(boom);
            out.writeAttachments(attachments);
        }, in -> {
            if (in.readByte() != 3) {
                return false;
            }
            Throwable t = in.readThrowable();
            return t instanceof IllegalArgumentException && "boom".equals(t.getMessage())
                    && t.getStackTrace().length == 1 && attachments.equals(in.readAttachments());
        });
        RichException checked = new RichException("E_RICH", "bad");
        checked.setStackTrace(new StackTraceElement[0]);
        vector("exception_rich_checked_no_stack", out -> out.writeThrowable(checked), in -> {
            Throwable t = in.readThrowable();
            return t instanceof RichException && "bad".equals(t.getMessage())
                    && "E_RICH".equals(((RichException) t).getCode());
        });
    }

    /** One object; it must read back as an object that re-encodes to the same bytes. */
    private void obj(String name, Object value) throws Exception {
        byte[] bytes = encode(out -> out.writeObject(value));
        vector(name, out -> out.writeObject(value), in -> {
            Object back = in.readObject();
            return Arrays.equals(bytes, encode(out -> out.writeObject(back)))
                    && (value == null || value.getClass() == back.getClass());
        });
    }

    private byte[] encode(Writer w) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ObjectOutput out = hessian2.serialize(url, bos);
        w.write(out);
        out.flushBuffer();
        return bos.toByteArray();
    }

    private void vector(String name, Writer w, Reader r) throws Exception {
        byte[] bytes = encode(w);
        ObjectInput in = hessian2.deserialize(url, new ByteArrayInputStream(bytes));
        if (!r.read(in)) {
            throw new IllegalStateException("vector " + name + " does not round-trip");
        }
        System.out.println(name + " " + hex(bytes));
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }
}
