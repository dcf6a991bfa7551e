//! SigMF metadata, datatypes, ISO 8601 times and recorder file names on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specgate::io::{iq, sigmf};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = sigmf::parse_meta(&text) {
        let _ = sigmf::processed_meta(&s.meta, serde_json::Value::Null);
        assert!(s.rate >= 1);
    }
    let _ = sigmf::DataType::parse(&text);
    let _ = sigmf::parse_iso8601(&text);
    let _ = iq::parse_file_name(&text);
});
