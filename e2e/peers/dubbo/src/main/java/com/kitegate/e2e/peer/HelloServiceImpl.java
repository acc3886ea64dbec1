package com.kitegate.e2e.peer;

import kitegate.hello.AddRequest;
import kitegate.hello.AddResponse;
import kitegate.hello.HelloService;
import kitegate.hello.Request;
import kitegate.hello.Response;

/** Java twin of kitegate's built-in Dubbo hello backend (provider --with-hello). */
public class HelloServiceImpl implements HelloService {
    @Override
    public Response echo(Request req) {
        return new Response(req == null ? null : req.getMessage());
    }

    @Override
    public AddResponse add(AddRequest req) {
        return new AddResponse(req.getFirst() + req.getSecond());
    }
}
