// A service that counts its calls, for the traffic-management e2e tests
// (e2e/tests/traffic.rs): the peer (rich_server.py --service Counter) counts
// every call it ran, so a test can prove that no call was lost or run twice.
namespace py counter
namespace go counter
namespace java kitegate.e2e.counter

service Counter {
    // Adds one to `key`'s count and returns the new count: not idempotent.
    i64 bump(1: string key) (api.post = "/bump")
    // `key`'s count: idempotent.
    i64 count(1: string key) (api.post = "/count", kitegate.idempotent = "true")
    // After `sleep_ms`, this server's --name: idempotent.
    string whoami(1: i32 sleep_ms) (api.post = "/whoami", kitegate.idempotent = "true")
}
