//! The front door's edge settings on the real binary: a CORS preflight and
//! the headers of an allowed origin's answer; another origin gets none;
//! settings that cannot work are refused at start.

use e2e::{Gateway, http, refused_config};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn cors_preflight_and_answers() {
    let gw = Gateway::start(
        "[cors]\nallow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\", \"authorization\"]\nmax_age_s = 600\n",
        &[],
    );
    let url = format!("{}/add", gw.base);
    let preflight = |origin: &str| {
        http(
            "OPTIONS",
            &url,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .unwrap()
    };
    let (status, headers, _) = preflight("https://app.example.com");
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&headers, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(&headers, "access-control-allow-headers")
            .unwrap()
            .contains("content-type")
    );
    assert_eq!(header(&headers, "access-control-max-age"), Some("600"));
    // Another origin is not allowed.
    let (_, headers, _) = preflight("https://evil.example.com");
    assert_eq!(header(&headers, "access-control-allow-origin"), None);

    // The call itself: the answer names the origin and lets the page read the request id.
    let (status, headers, body) = http(
        "POST",
        &url,
        Some(r#"{"first": 512, "second": 512}"#),
        &[
            ("origin", "https://app.example.com"),
            ("content-type", "application/json"),
        ],
    )
    .unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"sum":1024}"#));
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(&headers, "access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    // Without an Origin nothing changes.
    let (status, headers, _) =
        http("POST", &url, Some(r#"{"first": 1, "second": 2}"#), &[]).unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
}

#[test]
fn cors_settings_that_cannot_work_are_refused() {
    for (cfg, says) in [
        (
            "[cors]\nallow_origins = [\"app.example.com\"]\n",
            "scheme://host",
        ),
        (
            "[cors]\nallow_origins = [\"*\"]\nallow_credentials = true\n",
            "allow_credentials",
        ),
        ("[cors]\nallow_origins = []\n", "empty"),
    ] {
        let (code, err) = refused_config(cfg);
        assert_ne!(code, 0, "{cfg}");
        assert!(err.contains(says), "{cfg}: {err}");
    }
}
