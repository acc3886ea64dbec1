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
