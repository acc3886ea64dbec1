use crate::test_rng::Rng;
use std::borrow::Cow;

use super::ttheader::{TTHeaderMeta, header_block, int_key, str_key};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

const CALL: &str =
    "80 01 00 01 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 01 00 00 00 05 77 6f 72 6c 64 00";

fn greet_meta() -> TTHeaderMeta<'static> {
    TTHeaderMeta {
        protocol: 0,
        strs: vec![(
            Cow::Borrowed(str_key::IDL_SERVICE_NAME),
            Cow::Borrowed("GreetService"),
        )],
        ints: vec![(int_key::TO_METHOD, Cow::Borrowed("Greet"))],
    }
}

fn frame(t: Transport, seqid: i32, block: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mark = begin_frame(t, &mut out, seqid, block);
    out.extend_from_slice(msg);
    finish_frame(t, &mut out, mark);
    out
}

#[test]
fn ttheader_matches_kitex_reference_bytes() {
    // shared/specs/vectors/kitex_vectors.txt "TTHeader+thrift binary"
    let want = hex(
        "00 00 00 4c 10 00 00 00 00 00 00 01 00 09 00 00 01 00 01 00 03 69 73 6e 00 0c 47 72 65 65 74 53 65 72 76 69 63 65 10 00 01 00 09 00 05 47 72 65 65 74 80 01 00 01 00 00 00 05 47 72 65 65 74 00 00 00 01 0b 00 01 00 00 00 05 77 6f 72 6c 64 00",
    );
    let got = frame(
        Transport::TTHeader,
        1,
        &header_block(&greet_meta()),
        &hex(CALL),
    );
    assert_eq!(got, want);
    let f = decode_frame(
        Transport::TTHeader,
        Protocol::Binary,
        &got,
        DEFAULT_MAX_FRAME_SIZE,
    )
    .unwrap()
    .unwrap();
    assert_eq!(&got[f.payload.clone()], hex(CALL).as_slice());
    let h = f.header.unwrap();
    assert_eq!(
        (h.seqid, h.str("isn"), h.int(9), h.framed_payload),
        (1, Some("GreetService"), Some("Greet"), false)
    );
    assert_eq!(
        detect(&got).unwrap(),
        Some((Transport::TTHeader, Protocol::Binary))
    );
}

#[test]
fn every_framing_round_trips_and_waits_for_partial_input() {
    let msg = hex(CALL);
    let block = header_block(&greet_meta());
    for t in [
        Transport::Buffered,
        Transport::Framed,
        Transport::TTHeader,
        Transport::TTHeaderFramed,
    ] {
        let bytes = frame(t, 1, &block, &msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_frame(t, Protocol::Binary, &bytes[..cut], DEFAULT_MAX_FRAME_SIZE).unwrap(),
                None,
                "{t:?} cut {cut}"
            );
        }
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let f = decode_frame(t, Protocol::Binary, &two, DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(f.consumed, bytes.len(), "{t:?}");
        assert_eq!(&two[f.payload], msg.as_slice(), "{t:?}");
        assert_eq!(detect(&bytes).unwrap().unwrap().0, t, "{t:?}");
    }
    assert_eq!(
        hex("00 00 00 1e 80 01 00 01"),
        frame(Transport::Framed, 0, &[], &msg)[..8].to_vec()
    );
}

#[test]
fn oversized_and_garbage_frames_are_rejected() {
    for t in [Transport::Framed, Transport::TTHeader] {
        let r = decode_frame(
            t,
            Protocol::Binary,
            &hex("7f ff ff ff 00 00"),
            DEFAULT_MAX_FRAME_SIZE,
        );
        assert!(
            matches!(
                r,
                Err(CodecError::TooLarge {
                    size: 0x7fff_ffff,
                    ..
                })
            ),
            "{r:?}"
        );
        let r = decode_frame(
            t,
            Protocol::Binary,
            &hex("80 00 00 00"),
            DEFAULT_MAX_FRAME_SIZE,
        );
        assert!(r.is_err(), "{r:?}");
    }
    let r = decode_frame(
        Transport::TTHeader,
        Protocol::Binary,
        &hex("00 00 00 04 de ad be ef"),
        100,
    );
    assert!(r.is_err());
    assert!(detect(b"GET / HTTP/1.1\r\n").is_err());
}

/// The same call in compact (`Greet`, seqid 1, field 1 "world").
const CALL_COMPACT: &str = "82 21 01 05 47 72 65 65 74 18 05 77 6f 72 6c 64 00";

const ALL_TRANSPORTS: [Transport; 4] = [
    Transport::Buffered,
    Transport::Framed,
    Transport::TTHeader,
    Transport::TTHeaderFramed,
];

/// One frame of every framing and protocol, with the pair `detect` must name.
fn every_frame() -> Vec<(Transport, Protocol, Vec<u8>)> {
    let mut frames = Vec::new();
    for (p, msg) in [(Protocol::Binary, CALL), (Protocol::Compact, CALL_COMPACT)] {
        let mut meta = greet_meta();
        meta.protocol = ttheader::protocol_id(p);
        let block = header_block(&meta);
        for t in ALL_TRANSPORTS {
            frames.push((t, p, frame(t, 1, &block, &hex(msg))));
        }
    }
    frames
}

#[test]
fn every_prefix_of_every_framing_waits_without_panicking() {
    for (t, p, bytes) in every_frame() {
        for cut in 0..bytes.len() {
            let part = &bytes[..cut];
            // A prefix may already be recognizable; it may not be misread.
            match detect(part) {
                Ok(None) => {}
                Ok(Some(got)) => assert_eq!(got, (t, p), "{t:?} {p:?} cut {cut}"),
                Err(e) => panic!("{t:?} {p:?} cut {cut}: {e}"),
            }
            assert_eq!(
                decode_frame(t, p, part, DEFAULT_MAX_FRAME_SIZE).unwrap(),
                None,
                "{t:?} {p:?} cut {cut}"
            );
        }
        assert_eq!(detect(&bytes).unwrap(), Some((t, p)), "{t:?} {p:?}");
        let f = decode_frame(t, p, &bytes, DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(f.consumed, bytes.len(), "{t:?} {p:?}");
    }
}

#[test]
fn short_ttheader_starts_wait_for_the_header_size() {
    // The fixed part is 14 bytes; the header size is at 12..14.
    let bytes = frame(
        Transport::TTHeader,
        1,
        &header_block(&greet_meta()),
        &hex(CALL),
    );
    for cut in 8..14 {
        assert_eq!(detect(&bytes[..cut]).unwrap(), None, "cut {cut}");
    }
}

#[test]
fn mutated_frames_never_panic() {
    let mut rng = Rng(0x7777_1234_abcd_0001);
    let frames = every_frame();
    for round in 0..20_000 {
        let (_, _, bytes) = &frames[round % frames.len()];
        let mut m = bytes.clone();
        for _ in 0..1 + rng.index(3) {
            let i = rng.index(m.len());
            m[i] = match rng.index(4) {
                0 => rng.next() as u8,
                1 => 0xff,
                2 => 0x00,
                _ => m[i] ^ (1 << rng.index(8)),
            };
        }
        if round % 3 == 0 {
            m.truncate(rng.index(m.len() + 1));
        }
        let _ = detect(&m);
        for t in ALL_TRANSPORTS {
            for p in [Protocol::Binary, Protocol::Compact] {
                if let Ok(Some(f)) = decode_frame(t, p, &m, 1 << 16) {
                    assert!(f.consumed <= m.len() && f.payload.end <= f.consumed);
                    let _ = crate::thrift::read_message_header(p, &m[f.payload]);
                }
            }
        }
    }
}

#[test]
fn a_call_adds_its_string_keys_to_an_open_block() {
    let h = ttheader::CallHeader {
        protocol: ttheader::PROTOCOL_BINARY,
        framed_payload: false,
        idl_service: "GreetService",
        from_service: "kitegate",
        to_service: "greet",
        method: "Greet",
        oneway: false,
        timeout_ms: 250,
    };
    let open = ttheader::call_block(&h);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for t in [Transport::TTHeader, Transport::TTHeaderFramed] {
        for strs in [
            &[][..],
            &[
                ("RPC_TRANSIT_traceparent", tp),
                ("RPC_PERSIST_x-request-id", "r1"),
            ][..],
        ] {
            let mut out = Vec::new();
            let mark = begin_frame_with(t, &mut out, 9, &open, strs);
            out.extend_from_slice(b"\x80\x01\x00\x01\x00\x00\x00\x05Greet\x00\x00\x00\x09\x00");
            finish_frame(t, &mut out, mark);
            let frame = decode_frame(t, Protocol::Binary, &out, 1 << 20)
                .unwrap()
                .unwrap();
            assert_eq!(frame.consumed, out.len());
            let info = frame.header.unwrap();
            assert_eq!(info.seqid, 9);
            assert_eq!(info.str("isn"), Some("GreetService"));
            assert_eq!(info.int(ttheader::int_key::RPC_TIMEOUT), Some("250"));
            for (k, v) in strs {
                assert_eq!(info.str(k), Some(*v), "{k}");
            }
            assert_eq!(info.strs.len(), 1 + strs.len());
            let hs = u16::from_be_bytes([out[12], out[13]]) as usize * 4;
            assert!(hs >= open.len(), "header size covers the block");
            assert_eq!(&out[out.len() - 10..out.len() - 5], b"Greet");
        }
    }
    // Without keys of its own, the frame is the one a padded block makes.
    let mut a = Vec::new();
    let mark = begin_frame_with(Transport::TTHeader, &mut a, 1, &open, &[]);
    finish_frame(Transport::TTHeader, &mut a, mark);
    let mut padded = open.clone();
    while padded.len() % 4 != 0 {
        padded.push(0);
    }
    let mut b = Vec::new();
    let mark = begin_frame(Transport::TTHeader, &mut b, 1, &padded);
    finish_frame(Transport::TTHeader, &mut b, mark);
    assert_eq!(a, b);
}
