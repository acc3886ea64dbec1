//! A `protoc` for build scripts, made of protox (a protobuf compiler in
//! Rust): it takes the arguments prost-build gives (`--include_imports`,
//! `--include_source_info`, `-o FILE`, `-I DIR`, files) and writes the
//! file descriptor set. Dependencies that compile `.proto` files at build
//! time (etcd-client) find it through `PROTOC` (`.cargo/config.toml`), so
//! building the gateway needs no protoc installed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut includes: Vec<String> = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut out: Option<String> = None;
    let mut imports = false;
    let mut source_info = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--version" => {
                println!("libprotoc 3.21.12");
                return ExitCode::SUCCESS;
            }
            "--include_imports" => imports = true,
            "--include_source_info" => source_info = true,
            "-o" | "-I" => {
                let Some(v) = args.next() else {
                    eprintln!("protoc (protox): {a} needs a value");
                    return ExitCode::FAILURE;
                };
                if a == "-o" {
                    out = Some(v);
                } else {
                    includes.push(v);
                }
            }
            _ if a.starts_with("--descriptor_set_out=") => {
                out = Some(a["--descriptor_set_out=".len()..].to_string())
            }
            _ if a.starts_with("-o") => out = Some(a[2..].to_string()),
            _ if a.starts_with("--proto_path=") => {
                includes.push(a["--proto_path=".len()..].to_string())
            }
            _ if a.starts_with("-I") => includes.push(a[2..].to_string()),
            _ if a.starts_with('-') => {
                eprintln!("protoc (protox): unsupported option {a}");
                return ExitCode::FAILURE;
            }
            _ => files.push(a),
        }
    }
    let Some(out) = out else {
        eprintln!("protoc (protox): no -o FILE");
        return ExitCode::FAILURE;
    };
    if includes.is_empty() {
        includes.push(".".into());
    }
    let mut compiler = match protox::Compiler::new(&includes) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("protoc (protox): {e:?}");
            return ExitCode::FAILURE;
        }
    };
    compiler
        .include_imports(imports)
        .include_source_info(source_info);
    if let Err(e) = compiler.open_files(&files) {
        eprintln!("protoc (protox): {e:?}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&out, compiler.encode_file_descriptor_set()) {
        eprintln!("protoc (protox): cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
