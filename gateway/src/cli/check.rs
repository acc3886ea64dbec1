//! `kitegate check`: loads an IDL file locally and prints its methods and
//! routes, the IDL problems and the route clashes the gateway would refuse.

use std::collections::HashMap;

use serde_json::json;

use gateway::routes::{method_routes, to_matchit};

use super::table::{plural, print_json, table};
use super::upload::{Collector, check_dirs, main_file};
use super::{CheckArgs, Failure};

pub(super) fn check(a: CheckArgs) -> Result<(), Failure> {
    let prefix = a.prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(Failure::Usage(format!(
            "--prefix `{prefix}` must start with /, e.g. /{prefix}"
        )));
    }
    let main = main_file(&a.file)?;
    check_dirs(&a.include_dirs)?;
    let source = Collector::new(&a.include_dirs);
    if main.ends_with(".proto") {
        return check_proto(&main, &source, &prefix);
    }
    let schema = match idl::thrift::load(&main, &source) {
        Ok(s) => s,
        Err(errs) => {
            let misses = source.misses();
            let mut lines: Vec<String> = misses.iter().map(|m| m.to_string()).collect();
            for e in &errs.0 {
                let is_miss = misses.iter().any(|m| {
                    m.file == e.file
                        && m.line == e.line
                        && e.message.contains(&format!("\"{}\"", m.include))
                });
                if !is_miss {
                    lines.push(e.to_string());
                }
            }
            for l in &lines {
                eprintln!("{l}");
            }
            return Err(Failure::Failed(format!(
                "{}: {} problem{}",
                main,
                lines.len(),
                plural(lines.len())
            )));
        }
    };

    // Every route of every method, and the clashes the gateway would refuse.
    let mut rows = Vec::new();
    let mut services = Vec::new();
    let mut routers: HashMap<String, matchit::Router<usize>> = HashMap::new();
    let mut seen: Vec<(String, String, String)> = Vec::new(); // verb, path, Service.method
    let mut clashes = Vec::new();
    let mut method_count = 0;
    for svc in &schema.services {
        let mut methods = Vec::new();
        for m in &svc.methods {
            method_count += 1;
            let target = format!("{}.{}", svc.name, m.name);
            let mut routes = Vec::new();
            for (verb, path) in method_routes(&prefix, &svc.name, m) {
                let verb = verb.as_str().to_string();
                let router = routers.entry(verb.clone()).or_default();
                if let Err(e) = router.insert(to_matchit(&path), seen.len()) {
                    let other = match &e {
                        matchit::InsertError::Conflict { with } => seen
                            .iter()
                            .find(|(v, p, _)| *v == verb && to_matchit(p) == *with)
                            .map(|(v, p, t)| format!("{v} {p} of {t}")),
                        _ => None,
                    };
                    clashes.push(match other {
                        Some(o) => format!("{verb} {path} of {target} clashes with {o}"),
                        None => format!("{verb} {path} of {target}: {e}"),
                    });
                }
                seen.push((verb.clone(), path.clone(), target.clone()));
                let mut row = vec![verb.clone(), path.clone(), "->".into(), target.clone()];
                if m.oneway {
                    row.push("(oneway: answers 202 without waiting)".into());
                }
                rows.push(row);
                routes.push(json!({"http_method": verb, "path": path}));
            }
            methods.push(json!({"name": m.name, "oneway": m.oneway, "routes": routes}));
        }
        services.push(json!({"name": svc.name, "methods": methods}));
    }

    if a.json {
        print_json(&json!({
            "file": main,
            "files": schema.files,
            "services": services,
            "conflicts": clashes,
        }));
    } else {
        print!("{}", table(&[], &rows));
        let includes = schema.files.len().saturating_sub(1);
        println!(
            "{main}: {} service{}, {method_count} method{}, {} route{}{}",
            schema.services.len(),
            plural(schema.services.len()),
            plural(method_count),
            rows.len(),
            plural(rows.len()),
            if includes > 0 {
                format!(", {includes} included file{}", plural(includes))
            } else {
                String::new()
            }
        );
        if schema.services.is_empty() {
            println!("note: the main file declares no service, so nothing would be served");
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        for c in &clashes {
            eprintln!("route conflict: {c}");
        }
        Err(Failure::Failed(format!(
            "{} route conflict{}: the gateway would refuse this IDL",
            clashes.len(),
            plural(clashes.len())
        )))
    }
}

/// `check` for a .proto file: its services, methods and `google.api.http` routes.
fn check_proto(main: &str, source: &Collector, prefix: &str) -> Result<(), Failure> {
    let schema = idl::proto::load(main, source).map_err(|errs| {
        for e in &errs.0 {
            eprintln!("{e}");
        }
        Failure::Failed(format!(
            "{main}: {} problem{}",
            errs.0.len(),
            plural(errs.0.len())
        ))
    })?;
    let mut count = 0;
    for svc in &schema.services {
        println!("service {}", svc.full_name);
        for m in &svc.methods {
            count += 1;
            let streaming = match (m.client_streaming, m.server_streaming) {
                (false, false) => "",
                (false, true) => "  (server streaming: routed for grpc backends)",
                _ => "  (client streaming: not routed)",
            };
            if m.http.is_empty() {
                println!(
                    "  POST  {prefix}/{}/{}  ->  {}.{}{streaming}",
                    svc.full_name, m.name, svc.name, m.name
                );
            }
            for r in &m.http {
                println!(
                    "  {}  {prefix}{}  ->  {}.{}{streaming}",
                    r.method,
                    r.template.as_str(),
                    svc.name,
                    m.name
                );
            }
        }
    }
    println!("{count} method{} in {main}", plural(count));
    Ok(())
}
