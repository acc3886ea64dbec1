//! Thrift loading tests: includes, resolution, constant literals and error reports.

use super::*;
use crate::{Binding, BodyFormat, HttpMethod, MemoryFiles, Requiredness, StructKind, Type};

fn load_mem(files: &[(&str, &str)]) -> Result<Schema, IdlErrors> {
    let files = MemoryFiles::new(files.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    load(files.names().next().map(|_| "main.thrift").unwrap(), &files)
}

const BASE: &str = r#"
namespace go base
typedef i64 Id
typedef Id UserId
enum Color { RED, GREEN = 5, BLUE }
const i32 DEFAULT_N = 7
struct Item { 1: required UserId id, 2: optional string label = "x" }
exception Oops { 1: string why }
service Base { string version() }
"#;

const MAIN: &str = r#"
include "base.thrift"
namespace go main
typedef base.UserId Uid
const list<base.Color> FAV = [base.Color.GREEN, base.Color.BLUE]
union Choice { 1: string s, 2: i64 n }
struct Req {
    1: Uid uid (api.path = "uid")
    2: i32 n = base.DEFAULT_N (api.query = "n")
    3: list<base.Color> colors = FAV
    4: map<base.Item, string> byItem
    5: base.Color c = base.Color.BLUE
    6: binary blob = "hi"
    7: base.Item item = {"id": 3}
    8: optional Req next
}
service Svc extends base.Base {
    Req get(1: Req req) throws (1: base.Oops oops) (api.get = "/r/:uid", api.post = "/r")
    oneway void fire(1: string m)
    i64 add(1: i64 a, 2: i64 b)
}
"#;

#[test]
fn resolves_includes_typedefs_enums_consts_and_services() {
    let s = load_mem(&[("main.thrift", MAIN), ("base.thrift", BASE)]).unwrap();
    assert_eq!(s.files, vec!["main.thrift", "base.thrift"]);
    let req = s.struct_def(s.struct_by_name("Req").unwrap());
    assert_eq!(req.fields[0].ty, Type::I64);
    assert_eq!(req.fields[0].binding, Binding::Path("uid".into()));
    assert_eq!(req.fields[1].default.as_deref(), Some("7"));
    assert_eq!(req.fields[2].default.as_deref(), Some("[5,6]"));
    assert_eq!(req.fields[4].default.as_deref(), Some("6"));
    assert_eq!(req.fields[5].default.as_deref(), Some("\"aGk=\""));
    assert_eq!(req.fields[6].default.as_deref(), Some(r#"{"id":3}"#));
    assert!(matches!(req.fields[7].ty, Type::Struct(id) if s.struct_def(id).name == "Req"));
    assert!(matches!(&req.fields[3].ty, Type::Map(k, _) if !k.is_object_key()));
    let item = s.struct_def(s.struct_by_name("base.Item").unwrap());
    assert_eq!(item.fields[0].required, Requiredness::Required);
    assert_eq!(item.fields[1].required, Requiredness::Optional);
    let choice = s.struct_def(s.struct_by_name("Choice").unwrap());
    assert_eq!(choice.kind, StructKind::Union);
    let color = &s.enums[0];
    assert_eq!(
        color.values,
        vec![("RED".into(), 0), ("GREEN".into(), 5), ("BLUE".into(), 6)]
    );

    let svc = s.service("Svc").unwrap();
    let names: Vec<_> = svc.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["version", "get", "fire", "add"]);
    let get = &svc.methods[1];
    assert_eq!(get.body_struct_arg, Some(0));
    assert_eq!(get.http.len(), 2);
    assert_eq!(get.http[0].method, HttpMethod::Get);
    assert_eq!(get.http[0].path, "/r/:uid");
    let result = s.struct_def(get.result);
    assert_eq!(result.fields[0].id, 0);
    assert_eq!(result.fields[1].name, "oops");
    assert!(svc.methods[2].oneway);
    assert_eq!(svc.methods[3].body_struct_arg, None);
    assert_eq!(s.namespaces, vec![("go".to_string(), "main".to_string())]);
}

#[test]
fn missing_include_names_file_and_line() {
    let err =
        load_mem(&[("main.thrift", "namespace go x\n\ninclude \"nope.thrift\"\n")]).unwrap_err();
    assert_eq!(err.0[0].file, "main.thrift");
    assert_eq!(err.0[0].line, 3);
    assert!(err.0[0].message.contains("nope.thrift"), "{err}");
}

#[test]
fn include_cycle_is_reported() {
    let err = load_mem(&[
        ("main.thrift", "include \"a.thrift\"\n"),
        ("a.thrift", "\ninclude \"main.thrift\"\n"),
    ])
    .unwrap_err();
    assert_eq!(err.0[0].file, "a.thrift");
    assert_eq!(err.0[0].line, 2);
    assert!(
        err.0[0]
            .message
            .contains("include cycle: main.thrift -> a.thrift -> main.thrift"),
        "{err}"
    );
}

#[test]
fn syntax_error_has_line_and_no_escape_codes() {
    let err = load_mem(&[(
        "main.thrift",
        "struct A {\n 1: i32 a\n}\n\nstruct B { 1: i32 }\n",
    )])
    .unwrap_err();
    assert_eq!(err.0[0].line, 5, "{err}");
    assert!(!err.to_string().contains('\u{1b}'));
}

#[test]
fn all_semantic_errors_are_collected() {
    let err = load_mem(&[(
        "main.thrift",
        "struct A {\n 1: Missing a\n 2: i32 b = \"str\"\n}\nservice S extends Nope { void f() }\ntypedef Loop Loop\nstruct B { 1: Loop x }\n",
    )])
    .unwrap_err();
    let lines: Vec<usize> = err.0.iter().map(|e| e.line).collect();
    assert!(err.0.len() >= 4, "{err}");
    assert!(
        lines.contains(&2) && lines.contains(&3) && lines.contains(&5),
        "{err}"
    );
    assert!(err.to_string().contains("unknown type `Missing`"));
    assert!(err.to_string().contains("refers to itself"));
}

#[test]
fn loads_from_disk_with_include_dirs() {
    let dir = std::env::temp_dir().join(format!("idl-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("inc")).unwrap();
    std::fs::write(dir.join("inc/base.thrift"), BASE).unwrap();
    std::fs::write(dir.join("main.thrift"), MAIN).unwrap();
    let s = load_path(dir.join("main.thrift"), &[dir.join("inc")]).unwrap();
    assert_eq!(s.services[0].name, "Svc");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn empty_braces_and_brackets_default_any_container() {
    // The Apache compiler takes `{}` for an empty list or set and `[]` for an
    // empty map, and a list literal for a set.
    let s = load_mem(&[(
        "main.thrift",
        "struct A {\n 1: optional set<binary> s = {}\n 2: optional map<binary,i32> m = {}\n 3: list<i32> l = {}\n 4: map<string,i32> e = []\n 5: set<i32> n = [3, 1, 3]\n}\n",
    )])
    .unwrap();
    let a = s.struct_def(s.struct_by_name("A").unwrap());
    let defaults: Vec<_> = a.fields.iter().map(|f| f.default.as_deref()).collect();
    assert_eq!(
        defaults,
        [
            Some("[]"),
            Some("{}"),
            Some("[]"),
            Some("{}"),
            Some("[3,1]")
        ]
    );
}

const LITERALS_BASE: &str = r#"
enum Kind { A = 1, B = 2 }
const i64 BIG = 40000
const string HELLO = "hi"
const list<i32> NUMS = [1, 2]
"#;

const LITERALS: &str = r#"
include "lit_base.thrift"
enum Other { B = 7, C }
typedef set<i32> IntSet
typedef map<string, list<i32>> Lists
const Lists LISTS = {"a": lit_base.NUMS, "b": [3, lit_base.BIG], "c": []}
const list<map<string, list<i32>>> NESTED = [LISTS, {}, {"d": {}}]
struct Inner { 1: i32 n, 2: Other o = Other.C }
struct Outer {
    1: Inner inner = {"n": true, "o": Kind.B}
    2: list<Inner> inners = [{"n": 1}, {}]
    3: IntSet ints = [2, 2, 1]
    4: double d = 3
    5: double t = true
    6: i16 one = false
    7: string esc = "q\"t\'b\\n\n"
    8: binary bin = lit_base.HELLO
    9: uuid id = "{00112233-4455-6677-8899-AABBCCDDEEFF}"
    10: map<Other, string> names = {Other.C: "c", 7: "b"}
    11: map<list<i32>, bool> keyed = {[1]: 1, [1]: 0, []: true}
    12: i64 kind = lit_base.Kind.B
    13: Other o = lit_base.Kind.B
}
const Outer OUTER = {"inner": {"n": 5}, "ints": {}, "names": []}
"#;

#[test]
fn every_literal_form_of_the_apache_compiler() {
    let s = load_mem(&[
        ("main.thrift", LITERALS),
        ("lit_base.thrift", LITERALS_BASE),
    ])
    .unwrap();
    let outer = s.struct_def(s.struct_by_name("Outer").unwrap());
    let d: Vec<_> = outer
        .fields
        .iter()
        .map(|f| f.default.as_deref().unwrap())
        .collect();
    // `true` fills an i32; an enum value is looked up by its last part in
    // the enum assigned to, as the Apache compiler does (Other.B, not Kind.B).
    assert_eq!(d[0], r#"{"n":1,"o":7}"#);
    assert_eq!(d[1], r#"[{"n":1},{}]"#);
    assert_eq!(d[2], "[2,1]");
    assert_eq!(d[3], "3.0");
    assert_eq!(d[4], "1.0");
    assert_eq!(d[5], "0");
    assert_eq!(d[6], r#""q\"t'b\\n\n""#);
    assert_eq!(d[7], r#""aGk=""#);
    assert_eq!(d[8], r#""00112233-4455-6677-8899-aabbccddeeff""#);
    assert_eq!(d[9], r#"{"7":"b","8":"c"}"#);
    // A repeated key keeps its last value.
    assert_eq!(d[10], "[[[1],false],[[],true]]");
    // An enum value is an i32 constant of its own enum.
    assert_eq!(d[11], "2");
    assert_eq!(d[12], "7");
    assert_eq!(outer.fields[2].ty, Type::Set(Box::new(Type::I32)));
    assert_eq!(outer.fields[8].ty, Type::Uuid);

    let c = |n: &str| s.constant(n).unwrap().value.to_string();
    assert_eq!(c("LISTS"), r#"{"a":[1,2],"b":[3,40000],"c":[]}"#);
    assert_eq!(
        c("NESTED"),
        r#"[{"a":[1,2],"b":[3,40000],"c":[]},{},{"d":[]}]"#
    );
    assert_eq!(c("OUTER"), r#"{"inner":{"n":5},"ints":[],"names":{}}"#);
    assert_eq!(c("lit_base.BIG"), "40000");
    assert!(matches!(s.constant("LISTS").unwrap().ty, Type::Map(..)));
}

#[test]
fn literals_the_apache_compiler_drops_or_rejects_are_errors() {
    let err = load_mem(&[(
        "main.thrift",
        concat!(
            "const i64 BIG = 40000\n",
            "const set<i32> S = {1: 2}\n",
            "struct A { 1: i32 n }\n",
            "const A E = []\n",
            "const uuid U = \"0011-22\"\n",
            "const i16 SMALL = BIG\n",
            "enum K { X }\n",
            "const K Y = K.Z\n",
            "const list<i32> L = 3\n",
            "const string T = true\n",
        ),
    )])
    .unwrap_err();
    let got: Vec<(usize, &str)> = err.0.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "const S: a map is not a valid set"),
            (4, "const E: an empty list is not a valid struct"),
            (5, "const U: invalid uuid `0011-22`"),
            (6, "const SMALL: 40000 does not fit in i16"),
            (8, "const Y: enum `K` has no value `Z` (in `K.Z`)"),
            (9, "const L: an integer is not a valid list"),
            (10, "const T: a bool is not a valid string"),
        ],
        "{err}"
    );
}

#[test]
fn form_annotations_serializer_and_raw_uri() {
    let s = load_mem(&[(
        "main.thrift",
        "struct R {\n 1: binary file (api.form = \"avatar\")\n 2: string name (api.form = \"avatar.filename\")\n 3: string uri (api.raw_uri = \"\")\n}\n\
         service S {\n R a(1: R r) (api.post = \"/a\", api.serializer = \"form\")\n R b(1: R r) (api.serializer = \"json\")\n R c(1: R r)\n}\n",
    )])
    .unwrap();
    let r = &s.struct_def(s.struct_by_name("R").unwrap()).fields;
    assert_eq!(r[0].binding, Binding::Form("avatar".into()));
    assert_eq!(r[1].binding, Binding::Form("avatar.filename".into()));
    assert_eq!(r[2].binding, Binding::RawUri);
    let formats: Vec<_> = s.services[0]
        .methods
        .iter()
        .map(|m| m.body_format)
        .collect();
    assert_eq!(
        formats,
        [BodyFormat::Form, BodyFormat::Json, BodyFormat::Json]
    );

    let e = load_mem(&[(
        "main.thrift",
        "struct R {\n 1: i32 uri (api.raw_uri = \"\")\n}\nservice S {\n R a(1: R r)\n R b(1: R r) (api.serializer = \"xml\")\n}\n",
    )])
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("main.thrift:2") && text.contains("api.raw_uri binds a string field only"),
        "{text}"
    );
    assert!(
        text.contains("main.thrift:6") && text.contains("api.serializer = \"xml\""),
        "{text}"
    );
}
