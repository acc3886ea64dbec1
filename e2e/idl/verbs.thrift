// RichService's concat and ping (e2e/idl/rich.thrift, served by thriftpy2)
// under the Hertz method annotations beyond get/post/put/delete/patch:
// api.any, api.head and api.options.
namespace py rich

service RichService {
    string concat(1: string a, 2: i32 b, 3: list<i64> c) (api.any = "/any/concat", api.options = "/opt/concat")
    void ping() (api.head = "/head/ping", api.any = "/any/ping")
}
