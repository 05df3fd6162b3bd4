//! mDNS TXT records (`_raop._tcp` and `_airplay._tcp`) into capabilities. The input is
//! the two records' entries, one per line, `key=value` or a bare key; a line `--`
//! separates the RAOP record from the AirPlay one.
#![no_main]

use airstream_proto::capabilities::{Capabilities, TxtRecord, normalize_device_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut records = [TxtRecord::new(), TxtRecord::new()];
    let mut which = 0;
    for line in data.split(|b| *b == b'\n') {
        if line == b"--" {
            which = 1;
            continue;
        }
        let (key, value) = match line.iter().position(|b| *b == b'=') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        records[which].push(String::from_utf8_lossy(key).into_owned(), value);
    }
    let _ = Capabilities::from_txt(Some(&records[0]), Some(&records[1]));
    let _ = Capabilities::from_txt(Some(&records[0]), None);
    let _ = Capabilities::from_txt(None, Some(&records[1]));
    let _ = normalize_device_id(&String::from_utf8_lossy(data));
});
