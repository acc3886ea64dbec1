// The Java counter of e2e/peers/dubbo (com.kitegate.e2e.api.Counter), for
// the traffic-management e2e tests: the provider counts every call it ran.
namespace java com.kitegate.e2e.api

service Counter {
    // Adds one to the key's count; answers the new count. Not idempotent.
    i64 bump(1: string key)
    // The key's count.
    i64 count(1: string key) (kitegate.idempotent = "true")
    // After sleepMs, the provider's port as text.
    string whoami(1: i32 sleepMs) (hessian.argsType = "int", kitegate.idempotent = "true")
} (JavaClassName = "com.kitegate.e2e.api.Counter")
