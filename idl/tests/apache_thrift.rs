//! Loads Apache Thrift's own test IDLs (vendored under e2e/idl/apache-thrift)
//! and checks that their constants and defaults resolve to the values the
//! Apache compiler gives them.

use std::path::PathBuf;

use idl::{Schema, Type};
use serde_json::{Value, json};

/// Every vendored file that loads, by name; `BrokenConstants.thrift` is the
/// one the Apache compiler rejects too.
const LOADABLE: &[&str] = &[
    "ConstantsDemo.thrift",
    "DenseLinkingTest.thrift",
    "DocTest.thrift",
    "DoubleConstantsTest.thrift",
    "EnumContainersTest.thrift",
    "ExceptionStruct.thrift",
    "FullCamelTest.thrift",
    "Include.thrift",
    "Int64Test.thrift",
    "JsDeepConstructorTest.thrift",
    "JsRecursionDepthTest.thrift",
    "ManyOptionals.thrift",
    "ManyTypedefs.thrift",
    "NameConflictTest.thrift",
    "OptionalRequiredTest.thrift",
    "ReuseObjects.thrift",
    "Service.thrift",
    "SmallTest.thrift",
    "SpecificNameTest.thrift",
    "StressTest.thrift",
    "ThriftTest.thrift",
    "TypedefTest.thrift",
    "Types.thrift",
    "UnsafeTypes.thrift",
    "VoidMethExceptionsTest.thrift",
    "v0.16/FuzzTestNoUuid.thrift",
    "v0.16/ThriftTest.thrift",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/idl/apache-thrift")
}

fn load(name: &str) -> Schema {
    idl::thrift::load_path(dir().join(name), &[dir()])
        .unwrap_or_else(|e| panic!("{name} does not load: {e}"))
}

fn constant(s: &Schema, name: &str) -> (Type, Value) {
    let c = s
        .constant(name)
        .unwrap_or_else(|| panic!("no constant {name}"));
    (c.ty.clone(), serde_json::from_str(&c.value).unwrap())
}

fn default(s: &Schema, strukt: &str, field: &str) -> Option<Value> {
    let def = s.struct_def(s.struct_by_name(strukt).expect(strukt));
    let f = def
        .fields
        .iter()
        .find(|f| f.name == field)
        .unwrap_or_else(|| panic!("no field {strukt}.{field}"));
    f.default
        .as_deref()
        .map(|d| serde_json::from_str(d).unwrap())
}

#[test]
fn every_vendored_file_is_listed_and_loads() {
    let mut found = Vec::new();
    for sub in ["", "v0.16/"] {
        for e in std::fs::read_dir(dir().join(sub)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".thrift") {
                found.push(format!("{sub}{name}"));
            }
        }
    }
    found.sort();
    let mut expected: Vec<String> = LOADABLE.iter().map(|s| s.to_string()).collect();
    expected.push("BrokenConstants.thrift".into());
    expected.sort();
    assert_eq!(found, expected);

    let mut structs = 0;
    for name in LOADABLE {
        let s = load(name);
        assert!(!s.files.is_empty());
        structs += s.structs.len();
    }
    // Every file contributed something to resolve.
    assert!(structs > 250, "{structs}");
}

#[test]
fn broken_constants_are_rejected_as_by_apache() {
    let err = idl::thrift::load_path(dir().join("BrokenConstants.thrift"), &[]).unwrap_err();
    assert_eq!(err.0[0].line, 21, "{err}");
    assert!(err.0[0].message.contains("does not fit in an i64"), "{err}");
}

#[test]
fn thrift_test_empty_containers_sets_and_uuid() {
    for name in ["ThriftTest.thrift", "v0.16/ThriftTest.thrift"] {
        let s = load(name);
        // `{}` for a set and for a map with (object) binary keys.
        assert_eq!(default(&s, "OptionalBinary", "bin_set"), Some(json!([])));
        assert_eq!(default(&s, "OptionalBinary", "bin_map"), Some(json!({})));
        // A list literal for a set.
        assert_eq!(
            default(&s, "OptionalSetDefaultTest", "with_default"),
            Some(json!(["test"]))
        );
        assert_eq!(default(&s, "BoolTest", "b"), Some(json!(true)));
        assert_eq!(default(&s, "BoolTest", "s"), Some(json!("true")));
        assert_eq!(default(&s, "Xtruct", "string_thing"), None);
        let (ty, v) = constant(&s, "myNumberz");
        assert!(matches!(ty, Type::Enum(_)));
        assert_eq!(v, json!(1));
    }
    let s = load("ThriftTest.thrift");
    let nesting = s.struct_def(s.struct_by_name("CrazyNesting").unwrap());
    assert_eq!(nesting.fields[4].ty, Type::Uuid);
    let svc = s.service("ThriftTest").unwrap();
    let m = svc.methods.iter().find(|m| m.name == "testUuid").unwrap();
    assert_eq!(m.result_type, Some(Type::Uuid));
}

#[test]
fn constants_demo_values() {
    let s = load("ConstantsDemo.thrift");
    let c = |n: &str| constant(&s, n).1;
    assert_eq!(constant(&s, "myInt"), (Type::I32, json!(3)));
    assert_eq!(c("hex_const"), json!(31));
    assert_eq!(c("negative_hex_constant"), json!(-31));
    assert_eq!(c("GEn_DU"), json!(85.2355));
    assert_eq!(c("e10"), json!(1e10));
    assert_eq!(c("e11"), json!(-1e10));
    // Uuids, braced or not, typedef'd or not, become canonical lowercase text.
    assert_eq!(
        constant(&s, "GEN_UUID"),
        (Type::Uuid, json!("00000000-4444-cccc-ffff-0123456789ab"))
    );
    assert_eq!(c("GEN_GUID"), json!("00112233-4455-6677-8899-aabbccddeeff"));
    assert_eq!(
        constant(&s, "MY_GUID"),
        (Type::Uuid, json!("00112233-4455-6677-8899-aabbccddeeff"))
    );
    assert_eq!(c("GEN_MAP"), json!({"35532": 233, "43523": 853}));
    assert_eq!(c("GEN_MAPMAP"), json!({"235": {"532": 53255, "235": 235}}));
    // `098325` is decimal, as strtoll reads it.
    assert_eq!(
        c("GEN_MAP2"),
        json!({"hello": 233, "lkj98d": 853, "lkjsdf": 98325})
    );
    // A set written as a list with a repeated element.
    let (ty, v) = constant(&s, "GEN_SET");
    assert_eq!(ty, Type::Set(Box::new(Type::I32)));
    assert_eq!(v, json!([235, 53235]));
    assert_eq!(
        c("GUID_SET"),
        json!([
            "00112233-4455-6677-8899-aabbccddeeff",
            "00000000-4444-cccc-ffff-0123456789ab"
        ])
    );
    assert_eq!(
        c("GEN_THING"),
        json!({
            "hello": 325,
            "goodbye": 325352,
            "id": "00112233-4455-6677-8899-aabbccddeeff",
            "my_id": "00000000-4444-cccc-ffff-0123456789ab",
            "my_optional_id": "00000000-4444-cccc-ffff-0123456789ab",
        })
    );
    assert_eq!(c("GEN_WHAT")["35"]["goodbye"], json!(325352));
    let thing = s.struct_def(s.struct_by_name("thing").unwrap());
    assert_eq!(thing.fields[3].ty, Type::Uuid);
}

#[test]
fn double_constants_take_integers() {
    let s = load("DoubleConstantsTest.thrift");
    let (ty, v) = constant(&s, "DOUBLE_ASSIGNED_TO_INT_CONSTANT_TEST");
    assert_eq!(ty, Type::Double);
    assert!(v.is_f64() && v == json!(1.0), "{v}");
    assert_eq!(
        constant(&s, "DOUBLE_ASSIGNED_TO_LARGEST_INT_CONSTANT_TEST").1,
        json!(9223372036854775807i64 as f64)
    );
    assert_eq!(
        constant(&s, "DOUBLE_ASSIGNED_TO_LARGE_DOUBLE_TEST").1,
        json!(1.7e308)
    );
    let list = constant(&s, "DOUBLE_LIST_TEST").1;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 12);
    assert!(list.iter().all(Value::is_f64));
    assert_eq!(list[1], json!(-100.0));
    assert_eq!(list[7], json!(-1000000.1));
}

#[test]
fn enum_containers_through_typedefs() {
    let s = load("EnumContainersTest.thrift");
    let (ty, v) = constant(&s, "ATTRIBUTES");
    assert!(matches!(ty, Type::Map(k, _) if matches!(*k, Type::Enum(_))));
    assert_eq!(v, json!({"2": "lightning bolt", "3": "trident"}));
    assert_eq!(constant(&s, "BEAUTY").1, json!([1, 4]));
}

#[test]
fn int64_constants_refer_to_constants() {
    let s = load("Int64Test.thrift");
    assert_eq!(constant(&s, "MIN_SIGNED_INT64").1, json!(i64::MIN));
    assert_eq!(
        constant(&s, "INT64_LIST").1,
        json!([
            42,
            9007199254740991i64,
            -9007199254740991i64,
            9007199254740992i64,
            -9007199254740992i64,
            i64::MAX,
            i64::MIN
        ])
    );
    let map = constant(&s, "INT64_2_INT64_MAP").1;
    assert_eq!(map.as_object().unwrap().len(), 7);
    assert_eq!(map["-9223372036854775808"], json!(i64::MIN));
    assert_eq!(map["42"], json!(42));
}

#[test]
fn small_test_struct_defaults_and_bool_as_integer() {
    let s = load("SmallTest.thrift");
    assert_eq!(default(&s, "Goodbyez", "val"), Some(json!(325)));
    assert_eq!(default(&s, "BoolPasser", "value"), Some(json!(true)));
    assert_eq!(
        default(&s, "Hello", "complex"),
        Some(json!({"23": 532, "6243": 632, "2355": 532}))
    );
    assert_eq!(default(&s, "Hello", "thinz"), Some(json!({"val": 36632})));
    assert_eq!(constant(&s, "WHOA").1, json!({"simple": 532}));
    assert_eq!(
        constant(&s, "CMAP").1,
        json!({"235": {"235": 235}, "53": {"53": 53}})
    );
    let svc = s.service("SmallService").unwrap();
    let me = svc.methods.iter().find(|m| m.name == "testMe").unwrap();
    assert_eq!(
        s.struct_def(me.args).fields[0].default.as_deref(),
        Some("64")
    );
}

#[test]
fn other_defaults_and_includes() {
    let s = load("OptionalRequiredTest.thrift");
    assert_eq!(default(&s, "Tricky2", "im_optional"), None);
    assert_eq!(default(&s, "OptionalDefault", "opt_int"), Some(json!(1234)));
    assert_eq!(
        default(&s, "OptionalDefault", "opt_str"),
        Some(json!("default"))
    );

    let s = load("DocTest.thrift");
    assert_eq!(
        constant(&s, "MAPCONSTANT").1,
        json!({"hello": "world", "goodnight": "moon"})
    );
    assert_eq!(constant(&s, "INT16CONSTANT"), (Type::I16, json!(1616)));

    // The include alias is the file stem, whatever directory it is in.
    let s = load("Include.thrift");
    assert_eq!(s.files.len(), 2);
    let inc = s.struct_def(s.struct_by_name("IncludeTest").unwrap());
    assert!(
        matches!(inc.fields[0].ty, Type::Struct(id) if s.struct_def(id).name == "ThriftTest.Bools")
    );
    let s2 = load("v0.16/FuzzTestNoUuid.thrift");
    assert_eq!(
        default(&s2, "Requiredness", "req_with_default"),
        Some(json!(true))
    );

    let (ty, v) = constant(&s, "ThriftTest.myNumberz");
    assert!(matches!(ty, Type::Enum(id) if s.enum_def(id).name == "ThriftTest.Numberz"));
    assert_eq!(v, json!(1));
}
