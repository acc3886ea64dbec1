// rich_common.thrift -- second-level include of the e2e "rich" IDL
// (rich.thrift -> rich_base.thrift -> rich_common.thrift).
//
// Exercises: an include two levels deep, a typedef that is re-typedef'd in
// the files that include this one, an enum used as a map key and as a field
// default from two files away, and a const referenced from another file.
//
// Parsed at run time by thriftpy2 (e2e/peers/python) and by kitegate.

namespace go rich_common
namespace py rich_common
namespace rs rich_common
namespace java com.example.rich.common

// Start of a typedef chain: rich_base.Instant -> rich_common.Timestamp -> i64.
typedef i64 Timestamp

// Implicit values: LOW = 0, then an explicit MEDIUM = 5, then implicit HIGH = 6.
enum Level {
    LOW
    MEDIUM = 5
    HIGH
}

// Used as a default in rich.thrift (const from two includes away).
const i32 COMMON_MAGIC = 42
