use super::*;
use crate::{Binding, HttpMethod, MemoryFiles, Requiredness, StructKind, Type};

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
