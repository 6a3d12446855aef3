//! The connection's unit and property tests: framing on arbitrary bytes,
//! descriptors, listeners and the challenge.
use proptest::prelude::*;

use super::auth::{FAILURE, hmac};
use super::frame::{Decoder, HEADER};
use super::*;
use crate::multiprocessing::error::Error;
use crate::sys::os;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

proptest! {
    /// Arbitrary bytes, fed in arbitrary pieces: the decoder never
    /// panics, never returns a frame longer than the limit, and at the
    /// end reports EOF, a truncated frame, or a clear error.
    #[test]
    fn decoder_survives_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(0usize..64, 0..16),
        max in 0usize..300,
    ) {
        let mut d = Decoder::default();
        let mut rest = &bytes[..];
        let mut cut = cuts.iter().cycle();
        let mut failed = false;
        while !rest.is_empty() && !failed {
            let n = (*cut.next().unwrap_or(&rest.len())).clamp(1, rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            loop {
                match d.next_frame(max) {
                    Ok(Some((f, k))) => {
                        prop_assert!(f.len() <= max);
                        prop_assert!(k <= os::socket::MAX_FDS);
                    }
                    Ok(None) => break,
                    Err(Error::MessageTooLarge { len, .. }) => {
                        prop_assert!(len as usize > max);
                        failed = true;
                        break;
                    }
                    Err(Error::Decode { .. }) => continue, // bad fd count: skipped
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
        }
        if !failed {
            match d.eof(max) {
                Error::Eof => prop_assert_eq!(d.buffered(), 0),
                Error::Truncated { got, want } => prop_assert!(got < want),
                Error::MessageTooLarge { .. } => {}
                e => prop_assert!(false, "unexpected eof error {e}"),
            }
        }
    }

    /// Frames survive any split of the byte stream.
    #[test]
    fn decoder_round_trips_any_split(
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..8),
        step in 1usize..50,
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|m| frame(m)).collect();
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for chunk in stream.chunks(step) {
            d.push(chunk);
            while let Some((f, k)) = d.next_frame(1000).unwrap() {
                prop_assert_eq!(k, 0);
                out.push(f);
            }
        }
        prop_assert_eq!(out, msgs);
        prop_assert!(matches!(d.eof(1000), Error::Eof));
    }
}

#[test]
fn truncated_frame_is_an_error() {
    let mut d = Decoder::default();
    d.push(&frame(b"hello")[..6]);
    assert!(d.next_frame(100).unwrap().is_none());
    assert!(matches!(d.eof(100), Error::Truncated { got: 6, want: 9 }));
}

#[test]
fn eof_between_messages_and_closed_peer() {
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(b"last").unwrap();
    drop(a);
    assert_eq!(b.recv_bytes().unwrap(), b"last");
    assert!(matches!(b.recv_bytes(), Err(Error::Eof)));
    assert!(matches!(b.send_bytes(b"x"), Err(Error::Io(_))));
}

#[test]
fn size_limit_both_ways() {
    let (a, b) = Pipe(true).unwrap();
    a.set_max_message_size(3);
    assert!(matches!(
        a.send_bytes(b"four"),
        Err(Error::MessageTooLarge { len: 4, max: 3 })
    ));
    a.send_bytes(b"abc").unwrap();
    b.set_max_message_size(3);
    assert_eq!(b.recv_bytes().unwrap(), b"abc");
}

#[test]
fn recv_bytes_into_keeps_a_too_long_message() {
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    match b.recv_bytes_into(&mut small) {
        Err(Error::BufferTooShort(m)) => assert_eq!(m, b"0123456789"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn big_messages_read_straight_into_the_buffer_keep_the_stream_framed() {
    // Frames far bigger than the socket buffer take the direct path of
    // `recv_bytes_into`; the frames around them (small, with
    // descriptors, too long) must still arrive whole and in order.
    let (a, b) = Pipe(true).unwrap();
    let big: Vec<u8> = (0..(3 << 20) / 2).map(|i| (i % 251) as u8).collect();
    let sender = {
        let big = big.clone();
        std::thread::spawn(move || {
            for round in 0..3u8 {
                a.send_bytes(&big).unwrap();
                a.send_bytes(&[round]).unwrap();
                let (x, _y) = Pipe(true).unwrap();
                a.send(&(round, x)).unwrap();
            }
            a.send_bytes(&big).unwrap(); // longer than the last buffer
            a
        })
    };
    let mut buf = vec![0u8; 2 << 20];
    for round in 0..3u8 {
        let n = b.recv_bytes_into(&mut buf).unwrap();
        assert_eq!(&buf[..n], &big[..]);
        assert_eq!(b.recv_bytes_into(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], round);
        let (r, c): (u8, Connection) = b.recv().unwrap();
        assert_eq!(r, round);
        assert!(c.writable());
    }
    let mut short = vec![0u8; 1 << 20];
    match b.recv_bytes_into(&mut short) {
        Err(Error::BufferTooShort(m)) => assert_eq!(m, big),
        other => panic!("{other:?}"),
    }
    drop(sender.join().unwrap());
    assert!(matches!(b.recv_bytes_into(&mut buf), Err(Error::Eof)));
}

#[test]
fn a_big_frame_cut_short_is_truncated() {
    let (a, b) = Pipe(true).unwrap();
    let fd = a.as_fd_checked().unwrap();
    let header = (1u32 << 20).to_le_bytes();
    os::socket::send_all(fd, &[&header, &vec![7u8; 100_000]], &[]).unwrap();
    let sender = std::thread::spawn(move || drop(a));
    let mut buf = vec![0u8; 2 << 20];
    let r = b.recv_bytes_into(&mut buf);
    sender.join().unwrap();
    match r {
        Err(Error::Truncated { got, want }) => {
            assert_eq!((got, want), (HEADER + 100_000, HEADER + (1 << 20)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_type_is_a_decode_error_and_the_stream_goes_on() {
    let (a, b) = Pipe(true).unwrap();
    a.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    a.send(&5u32).unwrap();
    assert!(matches!(b.recv::<String>(), Err(Error::Decode { .. })));
    assert_eq!(b.recv::<u32>().unwrap(), 5);
}

#[test]
fn connections_travel_inside_messages() {
    let (a, b) = Pipe(true).unwrap();
    let (x, y) = Pipe(true).unwrap();
    a.send(&("here", y)).unwrap();
    a.send_bytes(b"after").unwrap();
    let (word, y2): (String, Connection) = b.recv().unwrap();
    assert_eq!(word, "here");
    assert_eq!(b.recv_bytes().unwrap(), b"after");
    x.send("through").unwrap();
    assert_eq!(y2.recv::<String>().unwrap(), "through");
}

#[test]
fn many_connections_in_a_burst_stay_with_their_frames() {
    // Frames with and without descriptors, sent back to back, so that
    // reads merge them: each descriptor must stay with its frame.
    let (a, b) = Pipe(true).unwrap();
    let mut keep = Vec::new();
    for i in 0..20u32 {
        if i % 3 == 0 {
            let (x, y) = Pipe(true).unwrap();
            a.send(&(i, Some(y))).unwrap();
            keep.push((i, x));
        } else {
            a.send(&(i, None::<Connection>)).unwrap();
        }
    }
    let mut got = Vec::new();
    for i in 0..20u32 {
        let (j, c): (u32, Option<Connection>) = b.recv().unwrap();
        assert_eq!(i, j);
        if let Some(c) = c {
            got.push((j, c));
        }
    }
    for ((i, x), (j, y)) in keep.iter().zip(&got) {
        assert_eq!(i, j);
        x.send(i).unwrap();
        assert_eq!(y.recv::<u32>().unwrap(), *i);
    }
}

#[test]
fn a_connection_cannot_be_encoded_outside_a_message() {
    let (a, _b) = Pipe(true).unwrap();
    assert!(postcard::to_allocvec(&a).is_err());
    assert!(postcard::from_bytes::<Connection>(&[0, 1, 1]).is_err());
}

#[test]
fn one_way_pipe() {
    let (r, w) = Pipe(false).unwrap();
    assert!(r.send_bytes(b"x").is_err());
    assert!(w.recv_bytes().is_err());
    w.send_bytes(b"ok").unwrap();
    assert_eq!(r.recv_bytes().unwrap(), b"ok");
}

#[test]
fn concurrent_senders_never_interleave() {
    // Stress: 4 threads × 500 messages of distinct sizes; every message
    // arrives whole, once, in its sender's order. Every message is at
    // least one byte (its sender's id), so each names its sender: an
    // empty message could not say whose it is.
    let (a, b) = Pipe(true).unwrap();
    let a = std::sync::Arc::new(a);
    let len = |i: u32| 1 + (i as usize * 37) % 3000;
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    a.send_bytes(&vec![t; len(i)]).unwrap();
                }
            })
        })
        .collect();
    let mut seen = [0u32; 4];
    for _ in 0..2000 {
        let m = b.recv_bytes().unwrap();
        let t = m[0];
        assert!(m.iter().all(|&x| x == t));
        assert_eq!(m.len(), len(seen[t as usize]));
        seen[t as usize] += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen, [500; 4]);
}

fn listener_round_trip(addr: Address) {
    let l = Listener::bind(addr, Some(b"secret")).unwrap();
    let addr = l.address().clone();
    let a2 = addr.clone();
    let t = std::thread::spawn(move || {
        let c = Client(&a2, Some(b"secret")).unwrap();
        c.send(&41u32).unwrap();
        c.recv::<u32>().unwrap()
    });
    let s = l.accept().unwrap();
    let v: u32 = s.recv().unwrap();
    s.send(&(v + 1)).unwrap();
    assert_eq!(t.join().unwrap(), 42);
    // A wrong key is rejected on both sides.
    let t = std::thread::spawn(move || Client(&addr, Some(b"wrong")).map(|_| ()));
    assert!(matches!(l.accept(), Err(Error::Authentication(_))));
    assert!(matches!(t.join().unwrap(), Err(Error::Authentication(_))));
}

#[test]
fn listener_client_tcp_with_auth() {
    listener_round_trip(Address::Tcp("127.0.0.1:0".parse().unwrap()));
}

#[test]
fn listener_client_unix_with_auth() {
    let path = std::env::temp_dir().join(format!(
        "gilfree-test-{}-{:?}.sock",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    listener_round_trip(Address::Unix(path.clone()));
    assert!(!path.exists(), "socket file removed on drop");
}

#[test]
fn client_without_key_is_rejected_by_a_keyed_listener() {
    let l = Listener::bind(Address::Tcp("127.0.0.1:0".parse().unwrap()), Some(b"k")).unwrap();
    let addr = l.address().clone();
    let t = std::thread::spawn(move || {
        let c = Client(&addr, None).unwrap();
        // The listener's challenge arrives; we answer garbage.
        let _ = c.recv_bytes();
        c.send_bytes(b"not an hmac").unwrap();
        c.recv_bytes()
    });
    assert!(matches!(l.accept(), Err(Error::Authentication(_))));
    assert_eq!(t.join().unwrap().unwrap(), FAILURE);
}

#[test]
fn hmac_sha256_matches_rfc4231() {
    // RFC 4231 test case 2.
    let tag = hmac(b"Jefe", b"what do ya want for nothing?");
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

/// Descriptor frames between runs of small frames, sent faster than they
/// are read, so the reader's plain `recv`s batch many frames per call:
/// with the padding every descriptor still arrives (a plain read that took
/// a byte carrying descriptors would make the kernel close them, and the
/// frame would fail with "descriptors announced but not received"), and
/// every frame comes whole and in order. Also read in pieces by a reader
/// that sleeps now and then, so reads start at every kind of offset.
#[test]
fn descriptors_survive_batched_plain_reads() {
    for pause_every in [0u32, 7] {
        let (a, b) = Pipe(true).unwrap();
        const N: u32 = 3000;
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                if i % 17 == 5 {
                    let (x, _y) = Pipe(true).unwrap();
                    a.send(&(i, Some(x))).unwrap();
                } else {
                    // Sizes that put frame boundaries at many offsets.
                    a.send_bytes(&vec![(i % 251) as u8; (i % 97) as usize + 1])
                        .unwrap();
                }
            }
            a
        });
        let mut carried = 0;
        for i in 0..N {
            if pause_every != 0 && i % pause_every == 0 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            if i % 17 == 5 {
                let (j, c): (u32, Option<Connection>) = b.recv().unwrap();
                assert_eq!(j, i);
                let c = c.expect("a connection");
                assert!(c.writable() && c.readable());
                carried += 1;
            } else {
                let m = b.recv_bytes().unwrap();
                assert_eq!(m, vec![(i % 251) as u8; (i % 97) as usize + 1], "frame {i}");
            }
        }
        assert_eq!(carried, (0..N).filter(|i| i % 17 == 5).count());
        drop(sender.join().unwrap());
        assert!(matches!(b.recv_bytes(), Err(Error::Eof)));
    }
}

/// The padded descriptor frame through the decoder, split anywhere: the
/// padding is skipped, the count read after it, the message intact.
#[test]
fn decoder_reads_a_padded_descriptor_frame_in_any_split() {
    use super::frame::{FD_PAD, FDS_BIT};
    let msg = b"with fds";
    let mut frame = ((msg.len() + FD_PAD + 1) as u32 | FDS_BIT)
        .to_le_bytes()
        .to_vec();
    frame.extend(std::iter::repeat_n(0u8, FD_PAD));
    frame.push(2);
    frame.extend_from_slice(msg);
    frame.extend_from_slice(&(3u32).to_le_bytes());
    frame.extend_from_slice(b"end");
    for step in [1, 3, 64, 4095, 4096, 4097, 5000] {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for chunk in frame.chunks(step) {
            assert!(d.plain_read_ok() || d.head_has_fds());
            d.push(chunk);
            while let Some((f, k)) = d.next_frame(100).unwrap() {
                out.push((f, k));
            }
        }
        assert_eq!(
            out,
            [(msg.to_vec(), 2), (b"end".to_vec(), 0)],
            "step {step}"
        );
    }
    // The header alone already rules plain reads out.
    let mut d = Decoder::default();
    d.push(&frame[..HEADER]);
    assert!(!d.plain_read_ok());
}
