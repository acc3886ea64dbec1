// Command hertz-kitex-gw is the HTTP/JSON -> Thrift gateway a CloudWeGo shop
// writes today, used as a head-to-head peer in kitegate's benchmarks: a Hertz
// HTTP server whose handlers forward every request through a Kitex generic
// client (generic.HTTPThriftGeneric, dynamicgo enabled on both the request
// and the response path) over TTHeader to the backend. Routes come from the
// IDL's api.get / api.post annotations, so it serves whatever the IDL maps
// (for examples/idl/hello.thrift: GET /hello, POST /echo, POST /add,
// POST /items).
//
//	hertz-kitex-gw -listen 127.0.0.1:8080 -backend 127.0.0.1:8899 -idl examples/idl/hello.thrift
//
// It prints one line "READY <addr>" on stdout once the listener is bound and
// Hertz is about to serve it. SIGTERM/SIGINT stop it (exit status 0).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/cloudwego/hertz/pkg/app"
	"github.com/cloudwego/hertz/pkg/app/server"
	"github.com/cloudwego/hertz/pkg/common/adaptor"
	"github.com/cloudwego/hertz/pkg/common/hlog"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/genericclient"
	"github.com/cloudwego/kitex/pkg/connpool"
	"github.com/cloudwego/kitex/pkg/generic"
	"github.com/cloudwego/kitex/pkg/generic/descriptor"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/transport"
	"github.com/cloudwego/thriftgo/parser"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP listen address (host:port; port 0 picks a free port)")
	backend := flag.String("backend", "127.0.0.1:8899", "Thrift (TTHeader) backend address host:port")
	idl := flag.String("idl", "examples/idl/hello.thrift", "Thrift IDL with api.get/api.post annotations")
	service := flag.String("service", "hello", "destination service name (Kitex client's destService)")
	mux := flag.Int("mux", 0, "use Kitex connection multiplexing with this many connections instead of the long-connection pool (0 = pool)")
	poolIdle := flag.Int("pool-idle", 1024, "long-connection pool: MaxIdlePerAddress")
	compat := flag.Bool("compat", false, "convert requests with Hertz's adaptor.GetCompatRequest + generic.FromHTTPRequest (the documented path; two body copies) instead of building generic.HTTPRequest directly")
	timeout := flag.Duration("timeout", 3*time.Second, "Kitex RPC timeout (0 = none)")
	verbose := flag.Bool("v", false, "keep Hertz/Kitex info logs")
	flag.Parse()

	if !*verbose {
		hlog.SetLevel(hlog.LevelWarn)
		klog.SetLevel(klog.LevelWarn)
	}

	// IDL provider with dynamicgo: JSON <-> Thrift is converted directly on
	// bytes, without the map[string]interface{} intermediate.
	p, err := generic.NewThriftFileProviderWithDynamicGo(*idl)
	if err != nil {
		fatal("load IDL %s: %v", *idl, err)
	}
	// UseRawBodyForHTTPResp(true) also enables dynamicgo on the response
	// path: the Thrift reply is written as JSON bytes into HTTPResponse.RawBody.
	g, err := generic.HTTPThriftGeneric(p, generic.UseRawBodyForHTTPResp(true))
	if err != nil {
		fatal("HTTPThriftGeneric: %v", err)
	}

	opts := []client.Option{
		client.WithHostPorts(*backend),
		client.WithTransportProtocol(transport.TTHeader),
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
	}
	if *timeout > 0 {
		opts = append(opts, client.WithRPCTimeout(*timeout))
	}
	if *mux > 0 {
		opts = append(opts, client.WithMuxConnection(*mux))
	} else {
		opts = append(opts, client.WithLongConnection(connpool.IdleConfig{
			MaxIdlePerAddress: *poolIdle,
			MaxIdleGlobal:     *poolIdle * 4,
			MaxIdleTimeout:    time.Minute,
		}))
	}
	cli, err := genericclient.NewClient(*service, g, opts...)
	if err != nil {
		fatal("generic client: %v", err)
	}

	// Bind the listener ourselves so a bind error is reported at once and the
	// READY line carries the real address (also for port 0).
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal("listen %s: %v", *listen, err)
	}
	bound := ln.Addr().String()

	h := server.New(
		server.WithListener(ln),
		server.WithExitWaitTime(500*time.Millisecond),
		server.WithDisablePrintRoute(true),
	)

	toRequest := directRequest
	if *compat {
		toRequest = compatRequest
	}
	handler := func(ctx context.Context, c *app.RequestContext) {
		req, err := toRequest(c)
		if err != nil {
			writeError(c, http.StatusBadRequest, err)
			return
		}
		// The method name is looked up from the request (HTTP method + path)
		// by the HTTP generic codec, so it is left empty here.
		resp, err := cli.GenericCall(ctx, "", req)
		if err != nil {
			writeError(c, http.StatusBadGateway, err)
			return
		}
		r, ok := resp.(*generic.HTTPResponse)
		if !ok {
			writeError(c, http.StatusBadGateway, fmt.Errorf("unexpected generic response %T", resp))
			return
		}
		status := int(r.StatusCode)
		if status == 0 {
			status = http.StatusOK
		}
		for k, vs := range r.Header {
			for _, v := range vs {
				c.Response.Header.Add(k, v)
			}
		}
		c.Data(status, "application/json", r.RawBody)
	}
	// One Hertz route per IDL route (what hz would generate), all with the
	// same handler: the HTTP generic codec finds the IDL method again from
	// the request's method and path. Anything else is Hertz's plain 404.
	routes, err := idlRoutes(*idl)
	if err != nil {
		fatal("read routes from %s: %v", *idl, err)
	}
	for _, r := range routes {
		h.Handle(r.method, r.path, handler)
	}

	h.OnRun = append(h.OnRun, func(context.Context) error {
		fmt.Fprintf(os.Stdout, "READY %s\n", bound)
		_ = os.Stdout.Sync()
		return nil
	})
	// Spin serves until SIGINT/SIGTERM, then shuts down gracefully.
	h.Spin()
	_ = cli.Close()
}

// directRequest builds the generic.HTTPRequest straight from Hertz's request:
// one net/http.Request shell (method, path, query, host, headers) for the
// codec's getters, and the body bytes as they are (Hertz owns them until the
// handler returns, and GenericCall finishes encoding before that).
func directRequest(c *app.RequestContext) (*generic.HTTPRequest, error) {
	hdr := make(http.Header, c.Request.Header.Len())
	c.Request.Header.VisitAll(func(k, v []byte) {
		key := string(k)
		hdr[key] = append(hdr[key], string(v))
	})
	r := &http.Request{
		Method: string(c.Method()),
		URL: &url.URL{
			Path:     string(c.Path()),
			RawQuery: string(c.URI().QueryString()),
		},
		Host:   string(c.Host()),
		Header: hdr,
	}
	return &generic.HTTPRequest{
		Request:     r,
		RawBody:     c.Request.Body(),
		ContentType: descriptor.MIMEApplicationJson,
	}, nil
}

// compatRequest is the path shown in the Hertz and Kitex docs: convert to a
// net/http.Request with the Hertz adaptor, then let Kitex read it.
func compatRequest(c *app.RequestContext) (*generic.HTTPRequest, error) {
	r, err := adaptor.GetCompatRequest(&c.Request) //nolint:staticcheck // documented path
	if err != nil {
		return nil, err
	}
	return generic.FromHTTPRequest(r)
}

type route struct{ method, path string }

// idlRoutes lists the HTTP routes of the IDL's last service (the one Kitex's
// generic provider serves by default) from the annotations Kitex's HTTP
// mapping understands: api.get, api.post, api.put and api.delete.
func idlRoutes(path string) ([]route, error) {
	tree, err := parser.ParseFile(path, nil, true)
	if err != nil {
		return nil, err
	}
	if len(tree.Services) == 0 {
		return nil, fmt.Errorf("no service")
	}
	methods := map[string]string{
		"api.get": http.MethodGet, "api.post": http.MethodPost,
		"api.put": http.MethodPut, "api.delete": http.MethodDelete,
	}
	var out []route
	svc := tree.Services[len(tree.Services)-1]
	for _, fn := range svc.Functions {
		for _, a := range fn.Annotations {
			if m, ok := methods[a.Key]; ok {
				for _, p := range a.Values {
					out = append(out, route{m, p})
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("service %s has no api.get/api.post/api.put/api.delete routes", svc.Name)
	}
	return out, nil
}

func writeError(c *app.RequestContext, status int, err error) {
	c.JSON(status, map[string]string{"error": err.Error()})
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "hertz-kitex-gw: "+format+"\n", args...)
	os.Exit(1)
}
