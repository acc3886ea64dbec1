// The built-in hello service: the Kitex "hello" example (echo, add) with
// Kitex/Hertz HTTP annotations so that kitegate can expose it without code.
namespace go api
namespace py hello
namespace rs hello
// Java classes of the Dubbo flavour (JavaClassName defaults to this + the IDL name).
namespace java kitegate.hello

struct Request {
    // GET /hello?message=... binds the query; without it the IDL default answers.
    1: string message = "hello world" (api.query = "message")
}

struct Response {
    1: string message
}

struct AddRequest {
    1: i64 first
    2: i64 second
}

struct AddResponse {
    1: i64 sum
}

// An item of a list: echoItems (POST /items) echoes lists of them, the
// large-payload route of the load benchmarks.
struct Item {
    1: i64 id
    2: string name
    3: double price
    4: list<string> tags
    5: bool active
}

struct ItemList {
    1: list<Item> items
}

// Raised by add when first + second does not fit in an i64.
exception HelloError {
    1: i32 code
    2: string message
}

service Hello {
    Response echo(1: Request req) (api.get = "/hello", api.post = "/echo")
    AddResponse add(1: AddRequest req) throws (1: HelloError err) (api.post = "/add")
    ItemList echoItems(1: ItemList req) (api.post = "/items")
} (JavaClassName = "kitegate.hello.HelloService")
