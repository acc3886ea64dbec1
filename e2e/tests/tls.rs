//! TLS on the real binary, with certificates an operator's CA made
//! (make_certs.py, on the cryptography package): the front door over
//! HTTP/1.1 and HTTP/2 (ALPN) from curl and from Python (the standard
//! library's ssl with http.client, and the h2 package); the admin listener
//! with client certificates required (mTLS); certificates renewed on disk
//! and on SIGHUP, taken by new connections while an open one goes on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{Gateway, TempDir, curl, make_certs, python, repo_path};
use serde_json::Value;

const ADD: &str = r#"{"first": 512, "second": 512}"#;

/// One request per line of tls_client.py's output.
fn python_client(args: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(python());
    cmd.arg(repo_path("e2e/peers/python/tls_client.py"))
        .args(args);
    e2e::json_lines(cmd)
}

/// Replaces `stem` (.pem and .key) in `dir` with `from`'s, each file by a
/// rename, as certificate tools do.
fn install(dir: &Path, stem: &str, from: &Path) {
    for ext in ["key", "pem"] {
        let tmp = dir.join(format!(".{stem}.{ext}.new"));
        std::fs::copy(from.with_extension(ext), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join(format!("{stem}.{ext}"))).unwrap();
    }
}

#[test]
fn tls_front_door_admin_mtls_and_renewal() {
    let certs = make_certs();
    let c = |f: &str| certs.path().join(f).display().to_string();
    let dir = TempDir::new("gw");
    install(dir.path(), "gw", &certs.path().join("server.pem"));
    install(dir.path(), "admin", &certs.path().join("server.pem"));
    let config = format!(
        "[tls]\ncert = \"gw.pem\"\nkey = \"gw.key\"\n[admin_tls]\ncert = \"admin.pem\"\nkey = \"admin.key\"\nclient_ca = \"{}\"\n",
        c("ca.pem")
    );
    let ca = certs.path().join("ca.pem");
    let gw = Gateway::start_tls(
        dir,
        &config,
        &ca,
        &[("RUST_LOG", "warn,gateway::edge::tls=info")],
    );
    let port = gw.base.rsplit(':').next().unwrap().to_string();
    let add = format!("{}/add", gw.base);

    // curl over HTTP/1.1 and HTTP/2, chosen by ALPN.
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (code, out, err) = curl(&[
            "--cacert",
            &c("ca.pem"),
            flag,
            "-w",
            "\n%{http_version} %{http_code}",
            "-X",
            "POST",
            "-d",
            ADD,
            &add,
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, format!("{{\"sum\":1024}}\n{version} 200"));
    }
    // A certificate nobody the client trusts: refused by the client.
    let (code, _, err) = curl(&["--cacert", &c("stranger.pem"), &add]);
    assert_ne!(code, 0, "{err}");

    // Python: http.client over ssl, and h2, each on one connection.
    for alpn in ["http/1.1", "h2"] {
        let answers = python_client(&[
            "--ca",
            &c("ca.pem"),
            "--port",
            &port,
            "--alpn",
            alpn,
            "--repeat",
            "2",
            "POST",
            "/add",
            ADD,
        ]);
        assert_eq!(answers.len(), 2);
        for a in &answers {
            assert_eq!(a["alpn"], alpn, "{a}");
            assert_eq!(a["status"], 200, "{a}");
            assert_eq!(a["body"], r#"{"sum":1024}"#, "{a}");
            assert_eq!(a["peer_cn"], "kitegate server", "{a}");
        }
    }
    // An error keeps its JSON shape over TLS.
    let answers = python_client(&[
        "--ca",
        &c("ca.pem"),
        "--port",
        &port,
        "--alpn",
        "h2",
        "POST",
        "/add",
        "{",
    ]);
    assert_eq!(answers[0]["status"], 400);
    assert!(
        answers[0]["body"]
            .as_str()
            .unwrap()
            .contains("invalid_request")
    );
    // Plain HTTP on the TLS port gets no answer, and the port goes on serving.
    let plain = format!("http://127.0.0.1:{port}/hello");
    let (code, out, _) = curl(&[&plain]);
    assert!(code != 0 && out.is_empty(), "{code} {out}");

    // The admin listener: a client certificate from the CA is required.
    let admin = gw.admin.replace("http://", "https://") + "/admin/backends";
    let (code, _, err) = curl(&["--cacert", &c("ca.pem"), &admin]);
    assert_ne!(code, 0, "no client certificate: refused ({err})");
    let (code, _, err) = curl(&[
        "--cacert",
        &c("ca.pem"),
        "--cert",
        &c("stranger.pem"),
        "--key",
        &c("stranger.key"),
        &admin,
    ]);
    assert_ne!(code, 0, "a certificate another CA signed: refused ({err})");
    let (code, out, err) = curl(&[
        "--cacert",
        &c("ca.pem"),
        "--cert",
        &c("client.pem"),
        "--key",
        &c("client.key"),
        "-w",
        "\n%{http_code}",
        &admin,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("\n200") && out.contains("hello"), "{out}");
    // The CLI over the same mTLS: with the CA and a client certificate
    // it lists the backends; without the certificate it is refused.
    let admin_url = gw.admin.replace("http://", "https://");
    let (code, out, err) = e2e::kitegate(&[
        "backends",
        "--admin",
        &admin_url,
        "--admin-ca",
        &c("ca.pem"),
        "--admin-cert",
        &c("client.pem"),
        "--admin-key",
        &c("client.key"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hello-grpc"), "{out}");
    let (code, _, err) = e2e::kitegate(&[
        "backends",
        "--admin",
        &admin_url,
        "--admin-ca",
        &c("ca.pem"),
    ]);
    assert_eq!(code, 1, "{err}");

    // SIGHUP: both listeners load their files again (unchanged here).
    let st = Command::new("kill")
        .args(["-HUP", &gw.proc.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());

    // Renewal: a long-lived HTTP/2 connection opened before it keeps
    // going; connections made after it see the new certificate.
    let long = {
        let (ca, port) = (c("ca.pem"), port.clone());
        std::thread::spawn(move || {
            python_client(&[
                "--ca", &ca, "--port", &port, "--alpn", "h2", "--repeat", "3", "--pause", "1.5",
                "POST", "/add", ADD,
            ])
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    install(gw.dir.path(), "gw", &certs.path().join("renewed.pem"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = python_client(&[
            "--ca",
            &c("ca.pem"),
            "--port",
            &port,
            "--alpn",
            "http/1.1",
            "GET",
            "/hello",
        ]);
        assert_eq!(a[0]["status"], 200);
        if a[0]["peer_cn"] == "kitegate renewed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not taken"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let answers = long.join().unwrap();
    assert_eq!(answers.len(), 3, "the open connection was not dropped");
    for a in &answers {
        assert_eq!(
            (&a["status"], &a["peer_cn"]),
            (&200.into(), &"kitegate server".into())
        );
    }
    // A broken renewal keeps the certificate in use.
    std::fs::write(gw.dir.path().join("gw.pem"), "not a certificate").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let a = python_client(&[
        "--ca",
        &c("ca.pem"),
        "--port",
        &port,
        "--alpn",
        "h2",
        "GET",
        "/hello",
    ]);
    assert_eq!(
        (&a[0]["status"], &a[0]["peer_cn"]),
        (&200.into(), &"kitegate renewed".into())
    );

    let mut gw = gw;
    let log = gw.proc.stop();
    let reloaded = |listener: &str| {
        log.lines()
            .filter(|l| l.contains("TLS certificates reloaded") && l.contains(listener))
            .count()
    };
    // The admin files never changed: its reload came from SIGHUP.
    assert_eq!(reloaded("listener=\"admin\""), 1, "{log}");
    assert!(reloaded("listener=\"front door\"") >= 2, "{log}");
    assert!(
        log.contains("TLS certificates not reloaded; the previous ones stay"),
        "{log}"
    );
}
