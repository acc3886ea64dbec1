// rich_base.thrift -- first-level include of the e2e "rich" IDL.
//
// Exercises: types referenced qualified from rich.thrift (rich_base.Item,
// rich_base.Color, rich_base.Id, rich_base.BaseService), a typedef of a typedef
// that crosses an include (Instant -> rich_common.Timestamp -> i64), an enum
// with only explicit values, a struct with required / optional / default
// requiredness that is also used as a map key and set element, and a base
// service that RichService `extends`.

include "rich_common.thrift"

namespace go rich_base
namespace py rich_base
namespace rs rich_base
namespace java com.example.rich.base

// Typedef chains: Id -> i64 (one level), Instant -> rich_common.Timestamp -> i64
// (typedef of a typedef from another file).
typedef i64 Id
typedef rich_common.Timestamp Instant

// Only explicit, non-contiguous values (a bit-flag style enum).
enum Color {
    RED = 1
    GREEN = 2
    BLUE = 4
}

// A small struct used everywhere: as a field type, a list element, a union
// member, a map key (map<Item, string>) and a map value.
struct Item {
    1: required Id id                       // required
    2: string name                          // default requiredness
    3: optional Color color                 // optional enum from this file
    4: optional rich_common.Level level     // optional enum from one include away
}

// A const defined from a const of the next include (rich.thrift uses it as a
// field default: a const chain across two files).
const i32 BASE_MAGIC = rich_common.COMMON_MAGIC

// RichService extends this; its methods are reachable through RichService.
service BaseService {
    // Returns a fixed version string ("rich-1.0" in rich_server.py).
    string version()
}
