// Workloads for `cargo bench -p codecs`: the same IDL drives kitegate's
// dynamic transcoder (loaded at run time) and pilota-build's generated types.
namespace rs bench

struct AddRequest {
    1: i64 first,
    2: i64 second,
}

struct Owner {
    1: i64 uid,
    2: string login,
    3: i32 level,
}

struct Item {
    1: i64 id,
    2: string name,
    // BTreeMap instead of pilota's default AHashMap: entries are then written
    // in key order, so the static bytes are deterministic and comparable with
    // the dynamic path's (which writes entries in JSON order).
    3: map<string, i64> attrs (pilota.rust_type = "btree"),
    4: list<string> tags,
    5: double score,
    6: bool active,
    7: Owner owner,
}

struct LargeMessage {
    1: list<Item> items,
}
