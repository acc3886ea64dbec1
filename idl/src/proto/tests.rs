use std::path::PathBuf;

use prost_reflect::{Cardinality, Kind};

use super::*;
use crate::MemoryFiles;

/// A fresh directory under the target dir's temp area, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "kitegate-idl-proto-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const COMMON: &str = r#"syntax = "proto3";
package acme.common;

message Page {
  int32 size = 1;
  string token = 2;
}

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
}
"#;

const USERS: &str = r#"syntax = "proto3";
package acme.users.v1;

import "acme/common.proto";

message User {
  message Address {
    string city = 1;
    enum Kind {
      KIND_UNSPECIFIED = 0;
      HOME = 1;
      WORK = 2;
    }
    Kind kind = 2;
  }
  string id = 1;
  Address address = 2;
  oneof contact {
    string email = 3;
    string phone = 4;
  }
  map<string, int64> scores = 5;
  optional int32 age = 6;
  repeated string tags = 7;
  acme.common.Color color = 8;
}

message ListUsersRequest { acme.common.Page page = 1; }
message ListUsersResponse { repeated User users = 1; }

service Users {
  rpc ListUsers(ListUsersRequest) returns (ListUsersResponse);
  rpc Watch(ListUsersRequest) returns (stream User);
  rpc Upload(stream User) returns (ListUsersResponse);
  rpc Chat(stream User) returns (stream User);
}
"#;

#[test]
fn proto3_with_import_path_nested_oneof_map_optional() {
    let dir = TempDir::new("p3");
    dir.write("include/acme/common.proto", COMMON);
    let main = dir.write("src/users.proto", USERS);
    let schema = load_path(&main, &[dir.0.join("include")]).unwrap();

    assert_eq!(schema.files.len(), 2);
    assert!(schema.files[0].ends_with("users.proto"));
    assert!(schema.files[1].ends_with("include/acme/common.proto"));
    assert_eq!(schema.services.len(), 1);
    let svc = &schema.services[0];
    assert_eq!(svc.full_name, "acme.users.v1.Users");
    assert_eq!(svc.name, "Users");
    let streaming: Vec<_> = svc
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.client_streaming, m.server_streaming))
        .collect();
    assert_eq!(
        streaming,
        [
            ("ListUsers", false, false),
            ("Watch", false, true),
            ("Upload", true, false),
            ("Chat", true, true)
        ]
    );
    assert!(svc.methods.iter().all(|m| m.http.is_empty()));
    assert_eq!(
        svc.methods[0].descriptor.input().full_name(),
        "acme.users.v1.ListUsersRequest"
    );

    let user = schema
        .pool
        .get_message_by_name("acme.users.v1.User")
        .unwrap();
    let address = schema
        .pool
        .get_message_by_name("acme.users.v1.User.Address")
        .unwrap();
    assert_eq!(
        user.get_field_by_name("address")
            .unwrap()
            .kind()
            .as_message(),
        Some(&address)
    );
    let kind = schema
        .pool
        .get_enum_by_name("acme.users.v1.User.Address.Kind")
        .unwrap();
    assert_eq!(kind.get_value_by_name("WORK").unwrap().number(), 2);

    let oneof: Vec<_> = user.oneofs().map(|o| o.name().to_string()).collect();
    assert!(oneof.contains(&"contact".to_string()));
    let email = user.get_field_by_name("email").unwrap();
    assert_eq!(email.containing_oneof().unwrap().name(), "contact");

    let scores = user.get_field_by_name("scores").unwrap();
    assert!(scores.is_map());
    let Kind::Message(entry) = scores.kind() else {
        panic!("map entry")
    };
    assert_eq!(entry.map_entry_key_field().kind(), Kind::String);
    assert_eq!(entry.map_entry_value_field().kind(), Kind::Int64);

    let age = user.get_field_by_name("age").unwrap();
    assert!(age.supports_presence());
    assert!(age.containing_oneof().unwrap().is_synthetic());
    assert!(!user.get_field_by_name("id").unwrap().supports_presence());
    assert!(user.get_field_by_name("tags").unwrap().is_list());
    let color = user.get_field_by_name("color").unwrap();
    assert_eq!(
        color.kind().as_enum().unwrap().full_name(),
        "acme.common.Color"
    );

    let page = schema.pool.get_message_by_name("acme.common.Page").unwrap();
    assert_eq!(page.get_field_by_name("token").unwrap().number(), 2);
}

#[test]
fn main_inside_an_import_path_keeps_its_relative_name() {
    let dir = TempDir::new("rel");
    dir.write("acme/common.proto", COMMON);
    let main = dir.write("acme/users.proto", USERS);
    let schema = load_path(&main, std::slice::from_ref(&dir.0)).unwrap();
    assert!(schema.pool.get_file_by_name("acme/users.proto").is_some());
    assert_eq!(schema.services[0].full_name, "acme.users.v1.Users");
}

#[test]
fn proto2_file() {
    let files = MemoryFiles::new([(
        "legacy.proto",
        r#"syntax = "proto2";
package legacy;
message Item {
  required string id = 1;
  optional int32 count = 2 [default = 7];
  repeated string labels = 3;
  optional group Extra = 4 { optional string note = 5; }
  extensions 100 to 199;
}
extend Item { optional string tag = 100; }
service Store { rpc Get(Item) returns (Item); }
"#,
    )]);
    let schema = load("legacy.proto", &files).unwrap();
    let item = schema.pool.get_message_by_name("legacy.Item").unwrap();
    let id = item.get_field_by_name("id").unwrap();
    assert_eq!(id.cardinality(), Cardinality::Required);
    let count = item.get_field_by_name("count").unwrap();
    assert_eq!(count.cardinality(), Cardinality::Optional);
    assert!(count.supports_presence());
    assert_eq!(count.default_value(), prost_reflect::Value::I32(7));
    assert!(item.get_field_by_name("extra").unwrap().is_group());
    assert!(schema.pool.get_extension_by_name("legacy.tag").is_some());
    assert_eq!(schema.services[0].full_name, "legacy.Store");
    assert_eq!(schema.files, ["legacy.proto"]);
}

#[test]
fn well_known_types_resolve_without_user_files() {
    let files = MemoryFiles::new([(
        "wkt.proto",
        r#"syntax = "proto3";
package wkt;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/any.proto";
import "google/protobuf/empty.proto";
message All {
  google.protobuf.Timestamp at = 1;
  google.protobuf.Duration ttl = 2;
  google.protobuf.Struct meta = 3;
  google.protobuf.Value value = 4;
  google.protobuf.ListValue list = 5;
  google.protobuf.StringValue name = 6;
  google.protobuf.Int64Value big = 7;
  google.protobuf.BoolValue flag = 8;
  google.protobuf.FieldMask mask = 9;
  google.protobuf.Any any = 10;
}
service W { rpc Ping(google.protobuf.Empty) returns (All); }
"#,
    )]);
    let schema = load("wkt.proto", &files).unwrap();
    assert_eq!(schema.files, ["wkt.proto"]);
    let all = schema.pool.get_message_by_name("wkt.All").unwrap();
    let types: Vec<String> = all
        .fields()
        .map(|f| f.kind().as_message().unwrap().full_name().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "google.protobuf.Timestamp",
            "google.protobuf.Duration",
            "google.protobuf.Struct",
            "google.protobuf.Value",
            "google.protobuf.ListValue",
            "google.protobuf.StringValue",
            "google.protobuf.Int64Value",
            "google.protobuf.BoolValue",
            "google.protobuf.FieldMask",
            "google.protobuf.Any",
        ]
    );
    let m = &schema.services[0].methods[0];
    assert_eq!(m.descriptor.input().full_name(), "google.protobuf.Empty");
}

const HTTP: &str = r#"syntax = "proto3";
package lib.v1;

import "google/api/annotations.proto";

message Book { string name = 1; string title = 2; }
message Shelf { string id = 1; }
message GetBookRequest { string name = 1; }
message CreateBookRequest { string parent = 1; Book book = 2; }
message UpdateBookRequest { Book book = 1; }
message DeleteBookRequest { string name = 1; }
message MoveRequest { Shelf shelf = 1; string book_id = 2; }
message BookReply { Book book = 1; string etag = 2; }

service Library {
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*/books/*}"
      additional_bindings { get: "/v1/books/{name}" }
      additional_bindings { post: "/v1/books:get" body: "*" }
    };
  }
  rpc CreateBook(CreateBookRequest) returns (BookReply) {
    option (google.api.http) = {
      post: "/v1/{parent=shelves/*}/books"
      body: "book"
      response_body: "book"
    };
  }
  rpc UpdateBook(UpdateBookRequest) returns (Book) {
    option (google.api.http) = { put: "/v1/{book.name=shelves/*/books/*}" body: "*" };
  }
  rpc PatchBook(UpdateBookRequest) returns (Book) {
    option (google.api.http).patch = "/v1/{book.name=shelves/*/books/*}";
    option (google.api.http).body = "book";
  }
  rpc DeleteBook(DeleteBookRequest) returns (Book) {
    option (google.api.http) = { delete: "/v1/{name=shelves/*/books/*}" };
  }
  rpc MoveBook(MoveRequest) returns (Book) {
    option (google.api.http) = {
      custom { kind: "MOVE" path: "/v1/shelves/{shelf.id}/books/{book_id}:move" }
      body: "*"
    };
  }
  rpc NoHttp(GetBookRequest) returns (Book);
}
"#;

fn rule(method: &str, template: &str, body: Option<&str>, resp: Option<&str>) -> ProtoHttpRule {
    ProtoHttpRule {
        method: method.into(),
        template: PathTemplate::parse(template).unwrap(),
        body: body.map(Into::into),
        response_body: resp.map(Into::into),
    }
}

#[test]
fn google_api_http_every_form() {
    let files = MemoryFiles::new([("library.proto", HTTP)]);
    let schema = load("library.proto", &files).unwrap();
    assert_eq!(schema.files, ["library.proto"]);
    let svc = &schema.services[0];
    assert_eq!(svc.full_name, "lib.v1.Library");
    let by_name = |n: &str| {
        &svc.methods
            .iter()
            .find(|m| m.name == n)
            .unwrap_or_else(|| panic!("{n}"))
            .http
    };
    assert_eq!(
        by_name("GetBook"),
        &[
            rule("GET", "/v1/{name=shelves/*/books/*}", None, None),
            rule("GET", "/v1/books/{name}", None, None),
            rule("POST", "/v1/books:get", Some("*"), None),
        ]
    );
    assert_eq!(
        by_name("CreateBook"),
        &[rule(
            "POST",
            "/v1/{parent=shelves/*}/books",
            Some("book"),
            Some("book")
        )]
    );
    assert_eq!(
        by_name("UpdateBook"),
        &[rule(
            "PUT",
            "/v1/{book.name=shelves/*/books/*}",
            Some("*"),
            None
        )]
    );
    assert_eq!(
        by_name("PatchBook"),
        &[rule(
            "PATCH",
            "/v1/{book.name=shelves/*/books/*}",
            Some("book"),
            None
        )]
    );
    assert_eq!(
        by_name("DeleteBook"),
        &[rule("DELETE", "/v1/{name=shelves/*/books/*}", None, None)]
    );
    assert_eq!(
        by_name("MoveBook"),
        &[rule(
            "MOVE",
            "/v1/shelves/{shelf.id}/books/{book_id}:move",
            Some("*"),
            None
        )]
    );
    assert!(by_name("NoHttp").is_empty());

    let get = &by_name("GetBook")[0].template;
    assert_eq!(
        get.matches("/v1/shelves/1/books/2"),
        Some(vec![("name".into(), "shelves/1/books/2".into())])
    );
}

#[test]
fn user_shipped_google_api_files_take_precedence() {
    // A googleapis checkout next to the service: its copies are used.
    let http = include_str!("google/api/http.proto");
    let annotations = include_str!("google/api/annotations.proto");
    let files = MemoryFiles::new([
        ("library.proto", HTTP),
        ("google/api/http.proto", http),
        ("google/api/annotations.proto", annotations),
    ]);
    let schema = load("library.proto", &files).unwrap();
    assert_eq!(
        schema.files,
        [
            "library.proto",
            "google/api/annotations.proto",
            "google/api/http.proto"
        ]
    );
    assert_eq!(schema.services[0].methods[0].http.len(), 3);
}

#[test]
fn bad_http_rules_name_the_method_line() {
    let src = |opt: &str| {
        format!(
            "syntax = \"proto3\";\nimport \"google/api/annotations.proto\";\nmessage R {{ string id = 1; repeated string ids = 2; }}\nservice S {{\n  rpc M(R) returns (R) {{\n    option (google.api.http) = {{ {opt} }};\n  }}\n}}\n"
        )
    };
    for (opt, want) in [
        (r#"get: "/v1/{nope}""#, "no field \"nope\""),
        (r#"get: "/v1/{ids}""#, "repeated"),
        (r#"get: "v1/x""#, "expected '/'"),
        (r#"post: "/v1/x" body: "nope""#, "body \"nope\""),
        (
            r#"post: "/v1/x" response_body: "nope""#,
            "response_body \"nope\"",
        ),
        (r#"body: "*""#, "none of get"),
        (r#"custom { path: "/x" }"#, "empty kind"),
    ] {
        let files = MemoryFiles::new([("s.proto", src(opt))]);
        let err = load("s.proto", &files).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let e = &err.0[0];
        assert_eq!((e.file.as_str(), e.line), ("s.proto", 6), "{opt}: {err}");
        assert!(e.message.contains(want), "{opt}: {}", e.message);
        assert!(e.message.contains("S.M"), "{}", e.message);
    }
}

#[test]
fn syntax_error_names_file_and_line() {
    let files = MemoryFiles::new([
        (
            "main.proto",
            "syntax = \"proto3\";\nimport \"sub/types.proto\";\nmessage A { sub.T t = 1; }\n",
        ),
        (
            "sub/types.proto",
            "syntax = \"proto3\";\npackage sub;\n\nmessage T {\n  string name = 1\n  int32 n = 2;\n}\n",
        ),
    ]);
    let err = load("main.proto", &files).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    assert_eq!(e.file, "sub/types.proto");
    assert_eq!(e.line, 6, "{err}");
    assert!(e.message.contains("expected"), "{}", e.message);

    // Unexpected end of file: the last line.
    let files = MemoryFiles::new([(
        "eof.proto",
        "syntax = \"proto3\";\nmessage A {\n  int32 x = 1;\n",
    )]);
    let e = &load("eof.proto", &files).unwrap_err().0[0];
    assert_eq!((e.file.as_str(), e.line), ("eof.proto", 3), "{e}");
}

#[test]
fn every_broken_file_is_reported() {
    let files = MemoryFiles::new([
        (
            "main.proto",
            "syntax = \"proto3\";\nimport \"a.proto\";\nimport \"b.proto\";\nimport \"c.proto\";\n",
        ),
        ("a.proto", "syntax = \"proto3\";\nmessage {\n"),
        ("b.proto", "syntax = \"proto3\";\n\nenum E { X = ; }\n"),
    ]);
    let err = load("main.proto", &files).unwrap_err();
    let got: Vec<_> = err.0.iter().map(|e| (e.file.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [("a.proto", 2), ("b.proto", 3), ("main.proto", 4)],
        "{err}"
    );
}

#[test]
fn type_errors_name_file_and_line() {
    let files = MemoryFiles::new([(
        "t.proto",
        "syntax = \"proto3\";\n\nmessage A {\n  Missing m = 1;\n}\n",
    )]);
    let err = load("t.proto", &files).unwrap_err();
    let e = &err.0[0];
    assert_eq!((e.file.as_str(), e.line), ("t.proto", 4), "{err}");
    assert!(e.message.contains("Missing"), "{}", e.message);
}

#[test]
fn missing_import_names_file_and_line() {
    let files = MemoryFiles::new([(
        "main.proto",
        "syntax = \"proto3\";\n\nimport \"google/protobuf/empty.proto\";\nimport \"nowhere/gone.proto\";\n",
    )]);
    let err = load("main.proto", &files).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    assert_eq!((e.file.as_str(), e.line), ("main.proto", 4));
    assert!(e.message.contains("nowhere/gone.proto"), "{}", e.message);
    assert!(e.message.contains("not found"), "{}", e.message);

    // On disk, with the file's path as the name.
    let dir = TempDir::new("missing");
    let main = dir.write("m.proto", "syntax = \"proto3\";\nimport \"x.proto\";\n");
    let e = &load_path(&main, &[]).unwrap_err().0[0];
    assert_eq!(e.file, main.to_string_lossy());
    assert_eq!(e.line, 2);
}

#[test]
fn missing_main_file() {
    let e = &load("nope.proto", &MemoryFiles::default()).unwrap_err().0[0];
    assert_eq!((e.file.as_str(), e.line), ("nope.proto", 0));
    let e = &load_path("/nonexistent/kitegate/x.proto", &[])
        .unwrap_err()
        .0[0];
    assert_eq!(e.line, 0);
    assert!(e.message.contains("not found"), "{}", e.message);
}

#[test]
fn upload_imports_cannot_escape() {
    let files = MemoryFiles::new([
        (
            "a/main.proto",
            "syntax = \"proto3\";\nimport \"../x.proto\";\n",
        ),
        ("x.proto", "syntax = \"proto3\";\nmessage X {}\n"),
    ]);
    let err = load("a/main.proto", &files).unwrap_err();
    let e = &err.0[0];
    assert_eq!((e.file.as_str(), e.line), ("a/main.proto", 2), "{err}");
    assert!(e.message.contains("../x.proto"), "{}", e.message);

    for bad in ["/etc/passwd", "./x.proto", "a//x.proto", "a\\x.proto"] {
        let files = MemoryFiles::new([
            (
                "main.proto",
                format!("syntax = \"proto3\";\nimport \"{bad}\";\n"),
            ),
            ("x.proto", "syntax = \"proto3\";\n".to_string()),
        ]);
        let e = &load("main.proto", &files).unwrap_err().0[0];
        assert_eq!(e.line, 2, "{bad}: {e}");
    }
}

#[test]
fn upload_imports_resolve_from_root_and_main_dir() {
    let files = MemoryFiles::new([
        (
            "protos/svc.proto",
            "syntax = \"proto3\";\nimport \"common.proto\";\nimport \"protos/deep/more.proto\";\nservice S { rpc M(C) returns (D); }\n",
        ),
        (
            "protos/common.proto",
            "syntax = \"proto3\";\nmessage C {}\n",
        ),
        (
            "protos/deep/more.proto",
            "syntax = \"proto3\";\nmessage D {}\n",
        ),
    ]);
    let schema = load("protos/svc.proto", &files).unwrap();
    assert_eq!(
        schema.files,
        [
            "protos/svc.proto",
            "protos/common.proto",
            "protos/deep/more.proto"
        ]
    );
    assert_eq!(schema.services[0].full_name, "S");
}

#[test]
fn import_cycles_are_reported() {
    let files = MemoryFiles::new([
        ("a.proto", "syntax = \"proto3\";\nimport \"b.proto\";\n"),
        ("b.proto", "syntax = \"proto3\";\n\nimport \"a.proto\";\n"),
    ]);
    let e = &load("a.proto", &files).unwrap_err().0[0];
    assert_eq!((e.file.as_str(), e.line), ("b.proto", 3), "{e}");
    assert!(e.message.contains("a.proto -> b.proto -> a.proto"), "{e}");
}

#[test]
fn only_main_file_services_are_listed() {
    let files = MemoryFiles::new([
        (
            "main.proto",
            "syntax = \"proto3\";\npackage m;\nimport \"other.proto\";\nservice Mine { rpc A(o.Msg) returns (o.Msg); }\n",
        ),
        (
            "other.proto",
            "syntax = \"proto3\";\npackage o;\nmessage Msg {}\nservice Theirs { rpc B(Msg) returns (Msg); }\n",
        ),
    ]);
    let schema = load("main.proto", &files).unwrap();
    let names: Vec<_> = schema
        .services
        .iter()
        .map(|s| s.full_name.as_str())
        .collect();
    assert_eq!(names, ["m.Mine"]);
    assert!(schema.pool.get_service_by_name("o.Theirs").is_some());
}

#[test]
fn schema_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<ProtoSchema>();
    check::<PathTemplate>();
}

#[test]
fn disk_imports_fall_back_to_the_main_files_directory() {
    let dir = TempDir::new("fallback");
    dir.write("inc/acme/common.proto", COMMON);
    dir.write(
        "svc/acme/common.proto",
        "syntax = \"proto3\";\npackage shadowed;\n",
    );
    dir.write(
        "svc/extra.proto",
        "syntax = \"proto3\";\nmessage Extra {}\n",
    );
    let main = dir.write(
        "svc/main.proto",
        "syntax = \"proto3\";\nimport \"acme/common.proto\";\nimport \"extra.proto\";\n",
    );
    // Import paths come first: acme/common.proto is the one under inc/.
    let schema = load_path(&main, &[dir.0.join("inc")]).unwrap();
    assert!(
        schema
            .pool
            .get_message_by_name("acme.common.Page")
            .is_some()
    );
    assert!(schema.pool.get_message_by_name("Extra").is_some());
    assert!(schema.files[1].ends_with("inc/acme/common.proto"));
}
