//! A stored (uncompressed) ZIP archive, which is all an `.npz` needs:
//! `numpy.load` reads it. Written here rather than through the `zip` crate,
//! whose default features build C libraries (zstd, bzip2) for formats an
//! `.npz` of weights never uses.

use crate::error::{Error, Result};

/// 1980-01-01, the earliest DOS date (a fixed date keeps exports byte-identical).
const DOS_DATE: u16 = (1 << 5) | 1;

/// The archive of `entries` (name, bytes), in order.
pub fn stored_zip(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let too_big = || Error::Data("export: over 4 GiB, more than a ZIP without ZIP64 holds".into());
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_big());
    let u16_of = |n: usize| u16::try_from(n).map_err(|_| too_big());
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32_of(out.len())?;
        let crc = crc32fast::hash(data);
        let (size, name_len) = (u32_of(data.len())?, u16_of(name.len())?);
        // Local file header: version 2.0, no flags, stored, fixed time and date.
        put32(&mut out, 0x0403_4b50);
        for v in [20u16, 0, 0, 0, DOS_DATE] {
            put16(&mut out, v);
        }
        for v in [crc, size, size] {
            put32(&mut out, v);
        }
        put16(&mut out, name_len);
        put16(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Its central directory record.
        put32(&mut central, 0x0201_4b50);
        for v in [20u16, 20, 0, 0, 0, DOS_DATE] {
            put16(&mut central, v);
        }
        for v in [crc, size, size] {
            put32(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            put16(&mut central, v);
        }
        put32(&mut central, 0);
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size) = (u32_of(out.len())?, u32_of(central.len())?);
    let n = u16_of(entries.len())?;
    out.extend_from_slice(&central);
    put32(&mut out, 0x0605_4b50);
    for v in [0u16, 0, n, n] {
        put16(&mut out, v);
    }
    put32(&mut out, cd_size);
    put32(&mut out, cd_offset);
    put16(&mut out, 0);
    Ok(out)
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

/// The entries of an archive written by [`stored_zip`], read back through
/// its central directory, with each CRC checked: for tests.
#[doc(hidden)]
pub fn read_stored_zip(b: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let u16_at = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as usize);
    let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize);
    let end = b.len().checked_sub(22)?;
    if u32_at(end)? != 0x0605_4b50 {
        return None;
    }
    let (n, mut at) = (u16_at(end + 10)?, u32_at(end + 16)?);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if u32_at(at)? != 0x0201_4b50 || u16_at(at + 10)? != 0 {
            return None;
        }
        let (crc, size, name_len) = (u32_at(at + 16)?, u32_at(at + 24)?, u16_at(at + 28)?);
        let name = String::from_utf8(b.get(at + 46..at + 46 + name_len)?.to_vec()).ok()?;
        let local = u32_at(at + 42)?;
        let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let data = b.get(start..start + size)?.to_vec();
        if crc32fast::hash(&data) as usize != crc {
            return None;
        }
        out.push((name, data));
        at += 46 + name_len + u16_at(at + 30)? + u16_at(at + 32)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_their_crcs() {
        let entries = vec![
            ("a.npy".to_string(), b"hello".to_vec()),
            ("dir/b.npy".to_string(), Vec::new()),
            ("c".to_string(), (0..=255u8).collect()),
        ];
        let z = stored_zip(&entries).unwrap();
        assert_eq!(read_stored_zip(&z).unwrap(), entries);
        let mut bad = z.clone();
        bad[30 + 5] ^= 1; // a byte of the first entry's data
        assert!(read_stored_zip(&bad).is_none());
        assert_eq!(stored_zip(&entries).unwrap(), z, "deterministic");
    }
}
