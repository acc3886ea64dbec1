//! The admin subcommands `register`, `backends`, `routes`, `remove`,
//! `history` and `rollback`: build
//! the request from the flags, send it through the admin client, print the answer.

use serde_json::{Map, Value, json};

use super::admin_client::{Admin, segment};
use super::table::{method_rows, or_dash, plural, print_json, str_of, table, text};
use super::upload::collect_upload;
use super::{Failure, HistoryArgs, ListArgs, RegisterArgs, RemoveArgs, RollbackArgs};

pub(super) fn register(a: RegisterArgs) -> Result<(), Failure> {
    let options = parse_options(&a.options)?;
    if a.name.trim().is_empty() {
        return Err(Failure::Usage("--name must not be empty".into()));
    }
    if let Some(p) = a
        .prefix
        .as_deref()
        .filter(|p| !p.is_empty() && !p.starts_with('/'))
    {
        return Err(Failure::Usage(format!(
            "--prefix `{p}` must start with /, e.g. /{p}"
        )));
    }
    let admin = Admin::new(&a.admin)?;
    let mut body = json!({
        "protocol": a.protocol,
        "transport": a.transport,
        "endpoints": a.endpoints,
    });
    match &a.idl {
        Some(idl) => {
            let upload = collect_upload(idl, &a.include_dirs)?;
            body["main"] = json!(upload.main);
            body["files"] = json!(upload.files);
        }
        None if idl_optional(&a.protocol, &options) => {}
        None => {
            return Err(Failure::Usage(
                "--idl is required (a dubbo backend may instead give --option java_interface=…)"
                    .into(),
            ));
        }
    }
    if !a.services.is_empty() {
        body["services"] = json!(a.services);
    }
    if let Some(p) = &a.prefix {
        body["prefix"] = json!(p);
    }
    if let Some(t) = a.timeout_ms {
        body["timeout_ms"] = json!(t);
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    let path = format!("/admin/backends/{}", segment(&a.name));
    let (status, v) = admin.send("PUT", &path, Some(&body))?;
    if a.admin.json {
        print_json(&v);
        return Ok(());
    }
    let how = if status == 201 {
        "registered"
    } else {
        "replaced"
    };
    let b = v.get("backend").unwrap_or(&Value::Null);
    let rows = method_rows(b);
    let files = body["files"].as_object().map_or(0, |f| f.len());
    println!(
        "{how} backend {} ({} file{}, {} route{})",
        a.name,
        files,
        plural(files),
        rows.len(),
        plural(rows.len())
    );
    print!("{}", table(&[], &rows));
    Ok(())
}

/// Fetches the list `key` at `path` for a table; `None` when it was printed
/// as JSON (`--json`) or was empty (said so).
fn list(a: &ListArgs, path: &str, key: &str) -> Result<Option<Vec<Value>>, Failure> {
    let admin = Admin::new(&a.admin)?;
    let (_, v) = admin.send("GET", path, None)?;
    if a.admin.json {
        print_json(&v);
        return Ok(None);
    }
    let list = v
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        println!("no {key}");
        return Ok(None);
    }
    Ok(Some(list))
}

pub(super) fn backends(a: ListArgs) -> Result<(), Failure> {
    let Some(list) = list(&a, "/admin/backends", "backends")? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            let methods = b.get("methods").and_then(Value::as_array);
            let routes: usize = methods
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            m.get("routes")
                                .and_then(Value::as_array)
                                .map_or(0, Vec::len)
                        })
                        .sum()
                })
                .unwrap_or(0);
            let endpoints = b
                .get("endpoints")
                .and_then(Value::as_array)
                .map(|es| es.iter().map(text).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                str_of(b, "name"),
                str_of(b, "source"),
                str_of(b, "protocol"),
                str_of(b, "transport"),
                or_dash(str_of(b, "prefix")),
                methods.map_or(0, Vec::len).to_string(),
                routes.to_string(),
                or_dash(endpoints),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NAME",
                "SOURCE",
                "PROTOCOL",
                "TRANSPORT",
                "PREFIX",
                "METHODS",
                "ROUTES",
                "ENDPOINTS"
            ],
            &rows
        )
    );
    Ok(())
}

pub(super) fn routes(a: ListArgs) -> Result<(), Failure> {
    let Some(list) = list(&a, "/admin/routes", "routes")? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                str_of(r, "http_method"),
                str_of(r, "path"),
                str_of(r, "backend"),
                format!("{}.{}", str_of(r, "service"), str_of(r, "method")),
            ]
        })
        .collect();
    print!("{}", table(&["METHOD", "PATH", "BACKEND", "CALLS"], &rows));
    Ok(())
}

/// Sends one change and prints the answer: raw with `--json`, else as `say` puts it.
fn change(
    args: &super::AdminArgs,
    method: &str,
    path: &str,
    body: Option<&Value>,
    say: impl FnOnce(&Value) -> String,
) -> Result<(), Failure> {
    let (_, v) = Admin::new(args)?.send(method, path, body)?;
    if args.json {
        print_json(&v);
    } else {
        println!("{}", say(&v));
    }
    Ok(())
}

pub(super) fn remove(a: RemoveArgs) -> Result<(), Failure> {
    let path = format!("/admin/backends/{}", segment(&a.name));
    change(&a.admin, "DELETE", &path, None, |_| {
        format!("removed backend {}", a.name)
    })
}

pub(super) fn history(a: HistoryArgs) -> Result<(), Failure> {
    let admin = Admin::new(&a.admin)?;
    let path = format!("/admin/backends/{}/history", segment(&a.name));
    let (_, v) = admin.send("GET", &path, None)?;
    if a.admin.json {
        print_json(&v);
        return Ok(());
    }
    let current = v.get("current").and_then(Value::as_u64);
    let rows: Vec<Vec<String>> = v
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let version = r.get("version").and_then(Value::as_u64).unwrap_or(0);
            let change = if r.get("removed").and_then(Value::as_bool) == Some(true) {
                "removed".to_string()
            } else {
                "registered".to_string()
            };
            let change = match r.get("rollback_of").and_then(Value::as_u64) {
                Some(of) => format!("{change} (rollback to {of})"),
                None => change,
            };
            let files = r
                .get("files")
                .and_then(Value::as_array)
                .map(|fs| {
                    fs.iter()
                        .map(|f| str_of(f, "name"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                if Some(version) == current {
                    format!("{version} *")
                } else {
                    version.to_string()
                },
                when(r.get("written_at_ms").and_then(Value::as_u64).unwrap_or(0)),
                str_of(r, "written_by"),
                change,
                or_dash(files),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["VERSION", "WRITTEN (UTC)", "BY", "CHANGE", "FILES"],
            &rows
        )
    );
    Ok(())
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS`.
fn when(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub(super) fn rollback(a: RollbackArgs) -> Result<(), Failure> {
    let path = format!("/admin/backends/{}/rollback", segment(&a.name));
    let body = match a.to {
        Some(v) => json!({ "to": v }),
        None => json!({}),
    };
    change(&a.admin, "POST", &path, Some(&body), |v| {
        format!(
            "backend {} rolled back to version {}, written as version {}",
            a.name,
            v.get("rollback_of").and_then(Value::as_u64).unwrap_or(0),
            v.get("version").and_then(Value::as_u64).unwrap_or(0),
        )
    })
}

pub(super) fn parse_options(opts: &[String]) -> Result<Map<String, Value>, Failure> {
    const BOOLS: [&str; 7] = [
        "enum_as_name",
        "i64_as_string",
        "reject_unknown_fields",
        "emit_defaults",
        "proto_field_names",
        "omit_response_metadata",
        "accept_gzip",
    ];
    const TEXTS: [&str; 3] = gateway::protocol::builtin::TEXT_OPTIONS;
    let mut out = Map::new();
    for o in opts {
        let Some((k, v)) = o.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--option `{o}`: expected KEY=VALUE, e.g. --option enum_as_name=true"
            )));
        };
        let (k, v) = (k.trim(), v.trim());
        let value = if BOOLS.contains(&k) {
            match v {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => {
                    return Err(Failure::Usage(format!(
                        "--option {k}={v}: expected true or false"
                    )));
                }
            }
        } else if k == "max_frame" {
            match v.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    return Err(Failure::Usage(format!(
                        "--option max_frame={v}: expected a number of bytes"
                    )));
                }
            }
        } else if TEXTS.contains(&k) {
            json!(v)
        } else if k == "forward_headers" {
            json!(
                v.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<_>>()
            )
        } else {
            return Err(Failure::Usage(format!(
                "--option `{k}`: unknown option; known: {}, {}, forward_headers, max_frame",
                BOOLS.join(", "),
                TEXTS.join(", ")
            )));
        };
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

/// Whether the protocol lets a backend with these options come without an IDL.
fn idl_optional(protocol: &str, options: &Map<String, Value>) -> bool {
    let Ok(options) = serde_json::from_value(Value::Object(options.clone())) else {
        return false;
    };
    let settings = gateway::config::BackendConfig {
        protocol: protocol.to_string(),
        options,
        ..Default::default()
    };
    gateway::protocol::find(protocol).is_some_and(|p| p.idl_optional(&settings))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00");
        assert_eq!(super::when(1_796_000_000_000), "2026-11-30 00:53:20");
        assert_eq!(super::when(951_782_400_000), "2000-02-29 00:00:00");
    }
}
