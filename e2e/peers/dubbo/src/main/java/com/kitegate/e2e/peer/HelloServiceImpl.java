package com.kitegate.e2e.peer;

import org.apache.dubbo.rpc.Invocation;
import org.apache.dubbo.rpc.RpcContext;

import kitegate.hello.AddRequest;
import kitegate.hello.AddResponse;
import kitegate.hello.HelloService;
import kitegate.hello.Request;
import kitegate.hello.Response;

/**
 * Java twin of kitegate's built-in Dubbo hello backend (provider --with-hello).
 *
 * <p>One addition: {@code echo} of the message {@value #TRACE} answers, instead
 * of the message, the trace context the request carried, as compact JSON
 * {@code {"traceparent":"...","tracestate":"...","request_id":"..."}} (each ""
 * when the attachment is absent or not a string).
 */
public class HelloServiceImpl implements HelloService {
    static final String TRACE = "trace";
    /** {@code echo} of this answers every string attachment, as a JSON object. */
    static final String ATTACHMENTS = "attachments";

    @Override
    public Response echo(Request req) {
        if (req != null && TRACE.equals(req.getMessage())) {
            return new Response(traceJson());
        }
        if (req != null && ATTACHMENTS.equals(req.getMessage())) {
            return new Response(attachmentsJson());
        }
        return new Response(req == null ? null : req.getMessage());
    }

    @Override
    public AddResponse add(AddRequest req) {
        return new AddResponse(req.getFirst() + req.getSecond());
    }

    /** Every string attachment of the request, keys sorted. */
    static String attachmentsJson() {
        Invocation inv = RpcContext.getServiceContext().getInvocation();
        java.util.Map<String, String> all = new java.util.TreeMap<>(
                inv != null ? inv.getAttachments() : RpcContext.getServerAttachment().getAttachments());
        StringBuilder out = new StringBuilder("{");
        for (java.util.Map.Entry<String, String> e : all.entrySet()) {
            if (e.getValue() == null) {
                continue;
            }
            if (out.length() > 1) {
                out.append(',');
            }
            out.append(Json.str(e.getKey())).append(':').append(Json.str(e.getValue()));
        }
        return out.append('}').toString();
    }

    /** The request's trace attachments as JSON, keys in a fixed order. */
    static String traceJson() {
        return "{\"traceparent\":" + Json.str(attachment("traceparent"))
                + ",\"tracestate\":" + Json.str(attachment("tracestate"))
                + ",\"request_id\":" + Json.str(attachment("x-request-id")) + "}";
    }

    /**
     * A request attachment as Dubbo's own tracing sees it: {@code
     * Invocation.getAttachment(key)} on the server-side invocation (the getter
     * of dubbo-tracing's DubboServerContext), i.e. exact-case key, String values
     * only. Falls back to the server attachments ContextFilter copied into the
     * RpcContext. "" when absent.
     */
    private static String attachment(String key) {
        Invocation inv = RpcContext.getServiceContext().getInvocation();
        String v = inv != null ? inv.getAttachment(key) : RpcContext.getServerAttachment().getAttachment(key);
        return v == null ? "" : v;
    }
}
