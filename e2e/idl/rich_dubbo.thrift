// The Java Dubbo service of e2e/peers/dubbo (com.kitegate.e2e.api.RichService)
// described in Thrift, as kitegate's Dubbo backends read it: Java classes
// from `namespace java` (or JavaClassName), Java parameter types from
// hessian.argsType or java.type where they are not the defaults.
namespace java com.kitegate.e2e.api

enum Status {
    NEW = 0
    PAID = 1
    SHIPPED = 2
}

struct Item {
    1: string sku
    2: i32 qty
    3: double price
}

struct Order {
    1: string id
    2: i64 amount
    3: list<Item> items
    4: Status status
    5: i64 createdAt (java.type = "java.util.Date")
    6: optional i64 total
}

exception RichException {
    1: string code
    2: string message
}

service RichService {
    i32 add(1: i32 a, 2: i32 b) (hessian.argsType = "int,int")
    i64 addLong(1: i64 a, 2: i64 b) (hessian.argsType = "long,long")
    double scale(1: double x, 2: double factor) (hessian.argsType = "double,double")
    bool negate(1: bool b) (JavaMethodName = "not", hessian.argsType = "boolean")
    string greet(1: string name)
    i64 addBoxed(1: i32 a, 2: i64 b)
    list<i32> doubled(1: list<i32> xs)
    map<string, i64> lengths(1: list<string> words)
    map<string, i32> counts(1: map<string, i32> m)
    Order process(1: Order order)
    Status next(1: Status s)
    i64 plusDays(1: i64 d (java.type = "java.util.Date"), 2: i32 days (java.type = "int"))
    binary reverse(1: binary b)
    void ping()
    string nothing()
    string fail(1: string msg)
    string failChecked(1: string msg) throws (1: RichException e)
    string sleep(1: i32 millis) (hessian.argsType = "int")
} (JavaClassName = "com.kitegate.e2e.api.RichService")
