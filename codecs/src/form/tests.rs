//! Form decoding: fixed cases, and property tests against what
//! `serde_urlencoded` and `multer` read from the same bodies.

use super::*;
use proptest::prelude::*;

fn kind(ct: &str) -> FormKind {
    FormKind::of(ct)
        .expect("a form type")
        .expect("a usable form type")
}

fn names<'a>(parts: &'a [FormPart<'a>]) -> Vec<(&'a str, &'a [u8])> {
    parts
        .iter()
        .map(|p| (p.name.as_ref(), p.data.as_ref()))
        .collect()
}

#[test]
fn content_types() {
    assert_eq!(
        kind("application/x-www-form-urlencoded"),
        FormKind::UrlEncoded
    );
    assert_eq!(
        kind("Application/X-WWW-Form-URLEncoded; charset=UTF-8"),
        FormKind::UrlEncoded
    );
    assert_eq!(
        kind("multipart/form-data; charset=utf-8; boundary=\"a b\""),
        FormKind::Multipart {
            boundary: "a b".into()
        }
    );
    assert!(FormKind::of("application/json").is_none());
    assert!(FormKind::of("multipart/form-data").unwrap().is_err());
    let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
    assert!(FormKind::of(&long).unwrap().is_err());
}

#[test]
fn urlencoded_pairs() {
    let parts = urlencoded(b"a=1&b=x+y&c=%E4%BD%A0&a=2&empty=&flag");
    assert_eq!(
        names(&parts),
        vec![
            ("a", &b"1"[..]),
            ("b", b"x y"),
            ("c", "你".as_bytes()),
            ("a", b"2"),
            ("empty", b""),
            ("flag", b""),
        ]
    );
    // Borrowed where there is nothing to decode.
    assert!(matches!(parts[0].data, Cow::Borrowed(_)));
    // Values keep their bytes; names are text.
    let parts = urlencoded(b"b%FFn=%00%FF+%2B");
    assert_eq!(parts[0].name, "b\u{FFFD}n");
    assert_eq!(parts[0].data.as_ref(), b"\x00\xff +");
}

#[test]
fn multipart_parts_files_preamble_and_epilogue() {
    let body = b"preamble\r\n--B\r\n\
        Content-Disposition: form-data; name=\"title\"\r\n\r\n\
        hello\r\n\
        --B  \r\n\
        content-disposition: form-data; name=avatar; filename=\"a b.png\"\r\n\
        Content-Type: image/png\r\n\r\n\
        \x89PNG\r\n--notB\r\n\
        --B\r\n\
        Content-Disposition: form-data; name=\"empty\"\r\n\r\n\
        \r\n--B--\r\nepilogue --B\r\n";
    let parts = multipart(body, "B").unwrap();
    assert_eq!(
        names(&parts),
        vec![
            ("title", &b"hello"[..]),
            ("avatar", b"\x89PNG\r\n--notB"),
            ("empty", b""),
        ]
    );
    assert_eq!(parts[1].filename.as_deref(), Some("a b.png"));
    assert_eq!(parts[1].content_type, Some("image/png"));
    assert_eq!(parts[0].filename, None);
    // Content is a slice of the body: nothing is copied.
    assert!(parts.iter().all(|p| matches!(p.data, Cow::Borrowed(_))));
}

#[test]
fn malformed_multipart_bodies() {
    let cases: &[(&[u8], &str)] = &[
        (b"no boundary here", "no multipart boundary"),
        (
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue",
            "ends before its closing boundary",
        ),
        (
            b"--B\r\nContent-Disposition: form-data; name=\"a\"",
            "do not end",
        ),
        (b"--Bxx\r\n\r\n\r\n--B--", "not followed by a line end"),
        (
            b"--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--B--",
            "not form-data",
        ),
        (
            b"--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--",
            "without a Content-Disposition name",
        ),
        (
            b"--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--B--",
            "unterminated",
        ),
        (b"--B\r\nno colon\r\n\r\nv\r\n--B--", "without a colon"),
    ];
    for (body, want) in cases {
        let e = multipart(body, "B").expect_err(want);
        assert!(
            e.0.contains(want),
            "{e} for {:?}",
            String::from_utf8_lossy(body)
        );
    }
    let mut long = b"--B\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', MAX_PART_HEAD + 10));
    long.extend(b"\r\n\r\nv\r\n--B--");
    assert!(multipart(&long, "B").unwrap_err().0.contains("longer than"));
}

#[test]
fn a_part_without_headers_is_refused_and_many_parts_stay_borrowed() {
    // RFC 7578 requires the disposition, so a header-less part is an error.
    assert!(multipart(b"--B\r\n\r\nv\r\n--B--", "B").is_err());
    let mut body = Vec::new();
    for i in 0..10_000 {
        body.extend(
            format!("--B\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{i}\r\n")
                .as_bytes(),
        );
    }
    body.extend(b"--B--\r\n");
    let parts = multipart(&body, "B").unwrap();
    assert_eq!(parts.len(), 10_000);
    assert_eq!(parts[9_999].data.as_ref(), b"9999");
}

/// A part as both readers give it: name, content, file name, content type.
type Owned = (String, Vec<u8>, Option<String>, Option<String>);

/// What `multer` reads from a multipart body.
fn multer_parts(body: Vec<u8>, boundary: &str, chunk: usize) -> Vec<Owned> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        let chunks: Vec<Result<bytes::Bytes, std::convert::Infallible>> = body
            .chunks(chunk.max(1))
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let mut m = multer::Multipart::new(futures_util::stream::iter(chunks), boundary);
        let mut out = Vec::new();
        while let Some(field) = m.next_field().await.expect("multer reads the body") {
            let name = field.name().unwrap_or_default().to_string();
            let filename = field.file_name().map(str::to_string);
            let ct = field.content_type().map(|m| m.to_string());
            let data = field.bytes().await.expect("multer reads the part").to_vec();
            out.push((name, data, filename, ct));
        }
        out
    })
}

fn part_strategy() -> impl Strategy<Value = Owned> {
    let data = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        // Bytes that look like the framing: line ends, dashes, the boundary's letters.
        proptest::collection::vec(prop::sample::select(b"\r\n-Bbx ".to_vec()), 0..64),
        "[ -~]{0,40}".prop_map(String::into_bytes),
    ];
    (
        "[a-zA-Z0-9_.\\[\\]-]{1,12}",
        data,
        proptest::option::of("[a-zA-Z0-9_. ()-]{1,16}"),
        proptest::option::of(prop::sample::select(vec![
            "text/plain".to_string(),
            "image/png".to_string(),
            "application/octet-stream".to_string(),
        ])),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn urlencoded_reads_as_serde_urlencoded_does(body in "[a-zA-Z0-9=&+%. é_-]{0,80}") {
        // Text as serde_urlencoded reads it: invalid UTF-8 as U+FFFD.
        let ours: Vec<(String, String)> = urlencoded(body.as_bytes())
            .into_iter()
            .map(|p| (p.name.into_owned(), String::from_utf8_lossy(&p.data).into_owned()))
            .collect();
        let theirs: Vec<(String, String)> = serde_urlencoded::from_bytes(body.as_bytes()).unwrap();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn urlencoded_round_trips_what_serde_urlencoded_writes(
        pairs in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8)
    ) {
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let ours: Vec<(String, String)> = urlencoded(body.as_bytes())
            .into_iter()
            .map(|p| (p.name.into_owned(), String::from_utf8(p.data.into_owned()).unwrap()))
            .collect();
        prop_assert_eq!(ours, pairs);
    }

    #[test]
    fn multipart_reads_as_multer_does(
        parts in proptest::collection::vec(part_strategy(), 0..6),
        boundary in "[A-Za-z0-9'()+_,./:=?-]{1,70}",
        preamble in prop::bool::ANY,
        chunk in 1usize..200,
    ) {
        let delim = format!("\r\n--{boundary}");
        for (_, data, _, _) in &parts {
            let mut framed = b"\r\n".to_vec();
            framed.extend(data);
            framed.extend(b"\r\n");
            prop_assume!(memchr::memmem::find(&framed, delim.as_bytes()).is_none());
        }
        let mut body = Vec::new();
        if preamble {
            body.extend(b"a preamble\r\n");
        }
        for (name, data, filename, ct) in &parts {
            body.extend(format!("--{boundary}\r\n").as_bytes());
            body.extend(format!("Content-Disposition: form-data; name=\"{name}\"").as_bytes());
            if let Some(f) = filename {
                body.extend(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend(b"\r\n");
            if let Some(ct) = ct {
                body.extend(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            body.extend(b"\r\n");
            body.extend(data);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());

        let ours: Vec<Owned> = multipart(&body, &boundary)
            .unwrap()
            .into_iter()
            .map(|p| (
                p.name.into_owned(),
                p.data.into_owned(),
                p.filename.map(Cow::into_owned),
                p.content_type.map(str::to_string),
            ))
            .collect();
        let theirs = multer_parts(body, &boundary, chunk);
        prop_assert_eq!(&ours, &theirs);
        prop_assert_eq!(ours.len(), parts.len());
    }
}
