use super::*;
use crate::error::Error;
use std::path::Path;

fn sample() -> Vec<u8> {
    let big: Vec<f64> = (0..10_000).map(|i| (i as f64).sin()).collect();
    let mut w = StateWriter::new();
    w.f64s("big", &big);
    w.f64("nan", f64::NAN);
    w.u64s("ints", vec![1, u64::MAX]);
    w.bytes("blob", vec![1, 2, 3]);
    w.scope("t", |w| {
        w.int("n", 3);
        w.flag("f", true);
        w.text("s", "x");
        w.texts("l", &["a".into(), "b".into()]);
        w.f64s_owned("neg_zero", vec![-0.0, f64::INFINITY]);
    });
    let mut out = Vec::new();
    let n = w.write_to(&mut out).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

#[test]
fn round_trips_every_type_bit_for_bit() {
    let bytes = sample();
    let p = Path::new("x.ckpt");
    let mut r = StateReader::parse(p, &bytes).unwrap();
    r.verify().unwrap();
    let big = r.f64s("big").unwrap();
    assert_eq!(big[9999].to_bits(), 9999f64.sin().to_bits());
    assert!(r.f64("nan").unwrap().is_nan());
    assert_eq!(r.u64s("ints").unwrap(), vec![1, u64::MAX]);
    assert_eq!(r.bytes("blob").unwrap(), vec![1, 2, 3]);
    r.scope("t", |r| {
        assert_eq!(r.int("n")?, 3);
        assert!(r.flag("f")?);
        assert_eq!(r.text("s")?, "x");
        assert_eq!(r.texts("l")?, vec!["a", "b"]);
        let z = r.f64s("neg_zero")?;
        assert_eq!(z[0].to_bits(), (-0.0f64).to_bits());
        assert_eq!(z[1], f64::INFINITY);
        Ok(())
    })
    .unwrap();
}

fn reason(bytes: &[u8]) -> String {
    match StateReader::parse(Path::new("c.sapm"), bytes).and_then(|mut r| r.verify()) {
        Err(Error::Format { path, reason }) => {
            assert_eq!(path, Path::new("c.sapm"));
            reason
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// Recompute the whole-file checksum of a checkpoint edited on purpose,
/// so the check behind it is the one that must refuse it.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 16;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..n + 8].copy_from_slice(&u64::from(crc).to_le_bytes());
    bytes
}

/// Each class of broken file has its own message naming the place.
#[test]
fn malformed_files_give_specific_errors() {
    let good = sample();
    assert!(reason(&good[..10]).contains("fewer than the 32"));
    let mut m = good.clone();
    m[0] = b'X';
    assert!(reason(&m).contains("not a sapm checkpoint"));
    for cut in [good.len() - 1, good.len() / 2, 30] {
        assert!(reason(&good[..cut]).contains("truncated"), "cut at {cut}");
    }
    // A flipped bit anywhere fails the whole-file checksum, on open.
    for at in [8 + 800, good.len() - 40, good.len() - 12] {
        let mut m = good.clone();
        m[at] ^= 4;
        let e = reason(&m);
        assert!(e.contains("whole-file checksum"), "bit at {at}: {e}");
    }
    // Resealed, a flipped data bit still fails its entry's checksum.
    let mut m = good.clone();
    m[8 + 800] ^= 4;
    let e = reason(&reseal(m));
    assert!(e.contains("entry `big`") && e.contains("checksum"), "{e}");
    // Header length field pointing outside the file.
    let mut m = good.clone();
    let at = m.len() - 24;
    m[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(reason(&m).contains("header length field"));
    // A version-1 file (old end marker) is named as such.
    let mut m = good.clone();
    let at = m.len() - 8;
    m[at..].copy_from_slice(b"SAPMCEND");
    assert!(reason(&m).contains("format version 1"));
    // Edited header: version, format, entry outside the data, duplicate
    // names (resealed, so the checks after the checksum are reached).
    let edit = |from: &str, to: &str| -> Vec<u8> {
        let n = good.len();
        let hlen = u64::from_le_bytes(good[n - 24..n - 16].try_into().unwrap());
        let hstart = n - 24 - hlen as usize;
        let text = std::str::from_utf8(&good[hstart..n - 24]).unwrap();
        assert!(text.contains(from), "{from} not in {text}");
        let text = text.replacen(from, to, 1);
        let mut out = good[..hstart].to_vec();
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(END_MAGIC);
        reseal(out)
    };
    // The same edit without resealing: refused by the checksum.
    let mut unsealed = edit("\"t.s\":\"x\"", "\"t.s\":\"y\"");
    let k = unsealed.len() - 16;
    unsealed[k..k + 8].copy_from_slice(&good[good.len() - 16..good.len() - 8]);
    assert!(reason(&unsealed).contains("whole-file checksum"));
    assert!(
        StateReader::parse(Path::new("c.sapm"), &edit("\"t.s\":\"x\"", "\"t.s\":\"y\"")).is_ok()
    );
    let e = reason(&edit("\"format_version\":2", "\"format_version\":3"));
    assert!(
        e.contains("field `format_version` is 3") && e.contains("[2]"),
        "{e}"
    );
    let e = reason(&edit("\"sapm-checkpoint\"", "\"other\""));
    assert!(e.contains("field `format`"), "{e}");
    let e = reason(&edit("\"len\":10000", "\"len\":10000000"));
    assert!(e.contains("field `entries[0]` (`big`)"), "{e}");
    let e = reason(&edit("\"name\":\"nan\"", "\"name\":\"big\""));
    assert!(e.contains("used twice"), "{e}");
    let e = reason(&edit("\"data_bytes\":", "\"data_bytes\":1"));
    assert!(e.contains("field `data_bytes`"), "{e}");
    let e = reason(&edit("{", "["));
    assert!(e.contains("header") && e.contains("line 1"), "{e}");
    let e = reason(&edit("\"meta\"", "\"extra\":1,\"meta\""));
    assert!(e.contains("field `header`") && e.contains("extra"), "{e}");
    // Typed access errors name the entry or field.
    let mut r = StateReader::parse(Path::new("c.sapm"), &good).unwrap();
    let e = r.f64s("ints").unwrap_err().to_string();
    assert!(e.contains("entry `ints`") && e.contains("U64"), "{e}");
    let e = r.f64s_into("big", &mut [0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("10000 values, this run needs 3"), "{e}");
    let e = r.int("t.s").unwrap_err().to_string();
    assert!(e.contains("field `meta.t.s`"), "{e}");
    let e = r
        .finite_f64s_into("nan", &mut [0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not finite"), "{e}");
    assert!(
        r.f64("missing")
            .unwrap_err()
            .to_string()
            .contains("entry `missing` is missing")
    );
}

/// Every single-bit change of a checkpoint is refused on open, in the
/// header (a config edited by one bit was accepted by version 1 and
/// trained a different model) as much as in the data and the trailer.
#[test]
fn every_single_bit_flip_is_refused() {
    let mut w = StateWriter::new();
    w.f64s_owned("w", vec![0.5, -1.25, 3.0]);
    w.text("run.config", "method = \"sapm\"\n[network]\ndepth = 3\n");
    w.int("driver.iteration", 40);
    let mut good = Vec::new();
    w.write_to(&mut good).unwrap();
    StateReader::parse(Path::new("c.sapm"), &good).unwrap();
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut m = good.clone();
            m[byte] ^= 1 << bit;
            assert!(
                StateReader::parse(Path::new("c.sapm"), &m).is_err(),
                "bit {bit} of byte {byte} accepted"
            );
        }
    }
}

#[test]
fn fingerprints_see_every_bit_and_the_shape() {
    let a = [1.0, 2.0];
    let b = [1.0, f64::from_bits(2f64.to_bits() ^ 1)];
    assert_ne!(fingerprint([&a[..]]), fingerprint([&b[..]]));
    assert_ne!(fingerprint([&a[..1], &a[1..]]), fingerprint([&a[..]]));
}
