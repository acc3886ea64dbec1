// rich.thrift -- the "rich" IDL of kitegate's end-to-end tests.
//
// One service (RichService) that touches as much of the Thrift IDL as the
// gateway has to understand, served by a third-party implementation
// (e2e/peers/python/rich_server.py, thriftpy2 loading this file at run time)
// over binary/compact x buffered/framed.
//
// Include graph: rich.thrift -> rich_base.thrift -> rich_common.thrift, and
// rich.thrift -> rich_common.thrift directly (a diamond).
// Everything here is accepted by thriftpy2 0.7.1's parser; there is no `uuid`
// (thriftpy2 has no uuid type). Identifiers avoid thriftpy2's reserved words
// (e.g. `next`, `when`, `default`, `args` are rejected by its lexer).
//
// Field ids are deliberately realistic: gaps, ids > 15 (compact protocol then
// writes a long-form field header: type byte + zigzag varint id), and one id
// at the i16 maximum.

include "rich_base.thrift"
// Also included by rich_base.thrift: a diamond, the file must be loaded once.
include "rich_common.thrift"

// Namespaces for several generators; ignored by the gateway and thriftpy2.
namespace go rich
namespace py rich
namespace rs rich
namespace java com.example.rich

// ---------------------------------------------------------------- typedefs --

// Across the include: ItemId -> rich_base.Id -> i64.
typedef rich_base.Id ItemId
// Typedef of a typedef in this file: PrimaryKey -> ItemId -> rich_base.Id -> i64.
typedef ItemId PrimaryKey
// Three levels across two includes: When -> rich_base.Instant -> rich_common.Timestamp -> i64.
typedef rich_base.Instant When
// Typedefs of containers and of binary.
typedef list<rich_base.Item> ItemList
typedef map<string, i32> Counters
typedef binary Blob

// ------------------------------------------------------------------- enums --

// Mixed implicit/explicit values: UNKNOWN = 0, ACTIVE = 1, DISABLED = 2 are
// implicit; DELETED = 10 is explicit; ARCHIVED = 11 continues from it.
enum Status {
    UNKNOWN
    ACTIVE
    DISABLED
    DELETED = 10
    ARCHIVED
}

// ------------------------------------------------------------------ consts --
// Used below as field defaults (scalar, enum, container and cross-file consts).

const i32 DEFAULT_COUNT = 7
const i64 DEFAULT_BIG = 1234567890123
const string DEFAULT_NAME = "rich"
const double DEFAULT_RATIO = 0.5
const bool DEFAULT_ENABLED = true
const Status DEFAULT_STATUS = Status.ACTIVE
const list<string> DEFAULT_TAGS = ["alpha", "beta"]
const map<string, i32> DEFAULT_COUNTERS = {"one": 1, "two": 2}
const rich_base.Color DEFAULT_COLOR = rich_base.Color.GREEN

// ----------------------------------------------------------------- structs --

// Every base type, every container shape, enums and typedefs.
// Echoed unchanged by echoAll.
struct AllTypes {
    // base types, ids 1..9 (compact: short-form field headers)
    1: bool a_bool
    2: byte a_byte                  // `byte` is the old spelling of i8
    3: i8 an_i8
    4: i16 an_i16
    5: i32 an_i32
    6: i64 an_i64
    7: double a_double
    8: string a_string
    9: binary a_binary              // JSON: base64
    // gap 10..15, then ids > 15 (compact: long-form field headers)
    16: list<i32> i32_list
    17: list<string> string_list
    18: set<string> string_set
    19: set<i64> i64_set
    20: set<bool> bool_set
    21: list<bool> bool_list
    22: list<double> double_list
    23: list<binary> binary_list
    24: list<byte> byte_list
    // maps: string keys, integer keys, enum keys, struct keys (see Nested)
    30: map<string, i64> string_map
    31: map<i32, string> i32_map
    32: map<i64, double> i64_map
    33: map<Status, string> enum_map
    34: map<i16, bool> i16_map
    35: map<string, binary> binary_map
    // enums, typedefs, a struct from the include used qualified
    40: Status status
    41: rich_base.Color color
    42: PrimaryKey pk               // typedef chain -> i64
    43: When at                     // typedef chain across two includes -> i64
    44: Blob blob                   // typedef -> binary
    45: Counters counters           // typedef -> map<string, i32>
    46: rich_base.Item item
    // far ids: an optional field with a large id and one at the i16 maximum
    255: optional string far
    32767: optional i32 max_id
}

// Nested containers and structs, a union field, struct-keyed maps, recursion.
// Echoed unchanged by echoNested.
struct Nested {
    1: required string name                           // required: missing -> error
    2: list<list<i32>> matrix                         // list of lists
    3: map<string, list<rich_base.Item>> groups       // map of lists of structs
    4: list<map<string, i32>> list_of_maps
    5: map<string, map<i32, string>> map_of_maps
    6: map<i64, list<set<string>>> deep               // three container levels
    7: AllTypes all                                   // nested struct
    8: optional Defaults defaults                     // nested struct with defaults
    9: Choice choice                                  // union as a field
    10: list<Choice> choices
    11: map<rich_base.Item, string> by_item           // struct keys
    12: set<rich_base.Item> item_set                  // struct elements in a set
    13: ItemList items                                // typedef of a container
    // gap, then long-form ids
    20: optional TreeNode tree                        // recursive type
    21: map<Status, list<rich_base.Item>> by_status   // enum keys, struct values
    22: map<rich_base.Color, Counters> by_color       // enum keys (other file)
    100: optional Nested child                        // self-recursion
}

// A recursive type: a node holds a list of nodes.
struct TreeNode {
    1: i32 value
    2: list<TreeNode> children
}

// Field defaults of several kinds, plus all three requirednesses.
// A field absent from the request gets its IDL default (in the gateway when it
// encodes JSON, and in thriftpy2 when it builds the struct); echoDefaults
// returns the struct as received.
struct Defaults {
    1: i32 count = DEFAULT_COUNT                      // int from a const
    2: i64 big = DEFAULT_BIG
    3: string name = DEFAULT_NAME                     // string from a const
    4: bool enabled = DEFAULT_ENABLED                 // bool from a const
    5: double ratio = DEFAULT_RATIO                   // double from a const
    6: Status status = DEFAULT_STATUS                 // enum from a const
    7: list<string> tags = DEFAULT_TAGS               // list from a const
    8: Counters counters = DEFAULT_COUNTERS           // map from a const (typedef'd type)
    9: rich_base.Color color = DEFAULT_COLOR          // enum const of an included enum
    // literals instead of consts
    10: i16 small = -3
    11: double neg = -1.25e2
    12: string greeting = "hello"
    13: bool off = false
    14: Status literal_status = Status.DELETED        // explicit enum value 10
    15: list<i32> primes = [2, 3, 5, 7]
    16: map<i32, string> names = {1: "one", 2: "two"}
    17: set<string> letters = ["x", "y"]              // set literal uses [...]
    18: rich_base.Item item = {"id": 1, "name": "first"}   // struct literal
    19: i32 magic = rich_common.COMMON_MAGIC          // const from the diamond include
    // ids 22, 23 are declared before 20, 21: declaration order != id order
    22: i32 base_magic = rich_base.BASE_MAGIC         // const -> const across two files
    23: rich_common.Level level = rich_common.Level.HIGH   // implicit enum value 6
    20: rich_base.Instant since = 0                   // typedef'd default
    21: binary raw = "raw"                            // binary from a string literal
    // requiredness
    30: required i32 must                             // required, no default
    31: optional string maybe                         // optional, no default
    32: optional i32 maybe_count = 5                  // optional with a default
    33: required string must_name = "anon"            // required with a default
}

// A union: exactly one field set. Echoed unchanged by echoUnion.
union Choice {
    1: string text
    2: i64 number
    3: rich_base.Item item
    4: list<string> words
    5: bool flag
    17: double ratio                                  // long-form id in compact
}

// The exception thrown by fail(); `code` is always 4242 in rich_server.py.
exception RichError {
    1: string message
    2: i32 code
    3: optional Status status
}

// Request/response structs with Kitex/Hertz HTTP field bindings.
struct ConcatRequest {
    1: string a (api.path = "a")                      // from the route's :a
    2: i32 b = 1 (api.query = "b")                    // ?b=..., default 1
    3: list<i64> c (api.query = "c")                  // ?c=1&c=2
    4: optional string trace (api.header = "X-Trace") // request header
    5: i64 id (api.js_conv = "true")                  // i64 as JSON string
    6: string note (api.body = "memo")                // JSON key "memo"
}

struct ConcatResponse {
    1: string result                                  // same string concat() returns
    2: optional string trace (api.header = "X-Trace") // echoed into a response header
    3: i64 id (api.js_conv = "true")
    4: string note (api.body = "memo")
}

// ----------------------------------------------------------------- service --

// `extends` a service from the include: version() is reachable here too.
service RichService extends rich_base.BaseService {
    // Struct echoes (single struct argument: the JSON body is the struct).
    AllTypes echoAll(1: AllTypes v) (api.post = "/rich/all")
    Nested echoNested(1: Nested v) (api.post = "/rich/nested")
    Choice echoUnion(1: Choice v) (api.post = "/rich/union")
    Defaults echoDefaults(1: Defaults v) (api.post = "/rich/defaults")

    // Several base-type arguments (JSON body: object keyed by argument name).
    // Returns a + "|" + str(b) + "|" + ",".join(c), absent arguments treated as
    // "", 0 and []: concat("x", 3, [1, 2]) == "x|3|1,2".
    string concat(1: string a, 2: i32 b, 3: list<i64> c) (api.post = "/rich/concat")

    // The same through an annotated request struct (path, query, header bindings).
    // result = concat(req.a, req.b, req.c); trace, id and note are copied back.
    ConcatResponse concatReq(1: ConcatRequest req) (api.get = "/rich/concat/:a", api.post = "/rich/concat/:a")

    // One argument of every base type, non-contiguous ids; returns an AllTypes
    // with the matching fields (a_bool .. a_binary) set and nothing else.
    AllTypes fromScalars(1: bool a_bool, 2: byte a_byte, 3: i8 an_i8, 4: i16 an_i16,
                         5: i32 an_i32, 6: i64 an_i64, 7: double a_double,
                         8: string a_string, 20: binary a_binary)

    // void: empty result struct.
    void ping() (api.get = "/rich/ping")

    // oneway: no reply at all; the server records msg for lastFired().
    oneway void fire(1: string msg) (api.post = "/rich/fire")
    // The msg of the most recent fire() ("" if none yet).
    string lastFired() (api.get = "/rich/last-fired")

    // Always throws RichError{message = msg, code = 4242, status = DISABLED}.
    i32 fail(1: string msg) throws (1: RichError err) (api.post = "/rich/fail")

    // A map with struct keys as argument and result (JSON needs a convention
    // for non-string keys; thriftpy2 itself handles it).
    map<rich_base.Item, string> echoStructKeys(1: map<rich_base.Item, string> v)
}
