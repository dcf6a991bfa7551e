//! IQ container formats through the filter and `specgate info`, on the fixtures in
//! `tests/data/iq/` (written by `make_fixtures.py` with numpy, independently of specgate).

use specgate::io::iq::RawIq;
mod common;

use common::{filter_iq_file, filter_iq_stream, IqOptions};
use specgate::params::Params;
use std::io::Read;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/iq")
        .join(name)
}

fn open_gate() -> Params {
    Params {
        frame: 256,
        reduction_db: 0.0,
        ..Params::default()
    }
}

fn bypass() -> Params {
    Params {
        bypass: true,
        ..Params::default()
    }
}

#[test]
fn info_reports_centre_times_and_iq_for_an_sdruno_recording() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["info"])
        .arg(fixture("SDRuno_20220309_140138Z_7150kHz.wav"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    for want in [
        "16-bit PCM",
        "62500 Hz",
        "channels:    2",
        "duration:    0.016 s",
        "7.150000 MHz",
        "2022-03-09T14:01:38Z",
        "2022-03-09T14:02:00Z",
        "IQ (complex",
    ] {
        assert!(s.contains(want), "missing '{want}' in:\n{s}");
    }
    let no = std::process::Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["info", "--no-iq"])
        .arg(fixture("SDRuno_20220309_140138Z_7150kHz.wav"))
        .output()
        .unwrap();
    assert!(String::from_utf8(no.stdout)
        .unwrap()
        .contains("audio (real channels) (--no-iq)"));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["info", "/nonexistent.wav"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[test]
fn sdr_console_24_bit_extensible_keeps_xml_auxi_and_trailing_list() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("sdrconsole_xml_auxi_24bit_ext.wav");
    let out = dir.path().join("o.wav");
    filter_iq_file(&input, &out, &bypass(), &IqOptions::default()).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&input).unwrap());
    // Gate open through the STFT: same header and trailer; 24-bit samples within 1 LSB.
    let out2 = dir.path().join("o2.wav");
    filter_iq_file(&input, &out2, &open_gate(), &IqOptions::default()).unwrap();
    let (a, b) = (
        std::fs::read(&input).unwrap(),
        std::fs::read(&out2).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let data = a.windows(4).position(|w| w == b"data").unwrap() + 8;
    let len = 1000 * 6;
    assert_eq!(a[..data], b[..data]);
    assert_eq!(a[data + len..], b[data + len..]);
    let s24 = |v: &[u8]| -> Vec<i32> {
        v.chunks_exact(3)
            .map(|c| i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8)
            .collect()
    };
    let (x, y) = (s24(&a[data..data + len]), s24(&b[data..data + len]));
    let worst = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).max().unwrap();
    assert!(worst <= 1, "24-bit samples differ by {worst} LSB");
}

#[test]
fn streaming_writer_sizes_are_repaired_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("broken_size_u8.wav");
    let out = dir.path().join("o.wav");
    let s = filter_iq_file(&input, &out, &open_gate(), &IqOptions::default()).unwrap();
    assert_eq!(s.frames_out, 1000);
    let (a, b) = (std::fs::read(&input).unwrap(), std::fs::read(&out).unwrap());
    assert_eq!(a.len(), b.len());
    let u32at = |v: &[u8], o: usize| u32::from_le_bytes(v[o..o + 4].try_into().unwrap());
    assert_eq!(u32at(&b, 4) as usize, b.len() - 8);
    let d = b.len() - 2000;
    assert_eq!(&b[d - 8..d - 4], b"data");
    assert_eq!(u32at(&b, d - 4), 2000);
    assert_eq!(a[d..], b[d..], "8-bit samples unchanged with the gate open");
    assert_eq!(a[8..d - 4], b[8..d - 4], "fmt and auxi chunks unchanged");
}

#[test]
fn raw_cu8_file_and_pipe_come_back_unchanged_with_the_gate_open() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("rtl_sdr_capture.cu8");
    let out = dir.path().join("o.cu8");
    let o = IqOptions {
        raw_rate: Some(2_048_000),
        ..Default::default()
    };
    filter_iq_file(&input, &out, &open_gate(), &o).unwrap();
    let bytes = std::fs::read(&input).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // No rate: a clear error, no output.
    let out2 = dir.path().join("o2.cu8");
    let e = filter_iq_file(&input, &out2, &open_gate(), &IqOptions::default()).unwrap_err();
    assert!(e.to_string().contains("--rate"), "{e}");
    assert!(!out2.exists());

    // A pipe that delivers 3 bytes per read (partial I/Q pairs) gives the same bytes.
    struct Dribble<'a>(&'a [u8]);
    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(3).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut piped = Vec::new();
    let s = filter_iq_stream(
        Dribble(&bytes),
        &mut piped,
        RawIq::Cu8,
        2_048_000,
        &open_gate(),
        &IqOptions::default(),
    )
    .unwrap();
    assert_eq!(s.frames_out, 1000);
    assert_eq!(piped, bytes);
}

#[test]
fn sigmf_output_keeps_the_metadata_and_adds_a_processing_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("capture.sigmf-meta");
    let out = dir.path().join("clean.sigmf-meta");
    let s = filter_iq_file(&input, &out, &open_gate(), &IqOptions::default()).unwrap();
    assert_eq!(s.rate, 2_000_000);
    assert_eq!(s.center_hz, Some(100_900_000.0));
    assert_eq!(
        std::fs::read(dir.path().join("clean.sigmf-data")).unwrap(),
        std::fs::read(fixture("capture.sigmf-data")).unwrap()
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let orig: serde_json::Value = serde_json::from_slice(&std::fs::read(&input).unwrap()).unwrap();
    assert_eq!(m["captures"], orig["captures"]);
    assert_eq!(m["global"]["core:recorder"], "fixture");
    assert_eq!(m["global"]["core:datatype"], "ci16_le");
    let rec = &m["global"]["specgate:processing"][0];
    assert_eq!(rec["time_aligned"], true);
    assert_eq!(rec["params"]["reduction_db"], 0.0);

    // WAV → SigMF: a fresh document with the auxi centre frequency and start time.
    let out2 = dir.path().join("sdruno.sigmf-data");
    filter_iq_file(
        &fixture("SDRuno_20220309_140138Z_7150kHz.wav"),
        &out2,
        &open_gate(),
        &IqOptions::default(),
    )
    .unwrap();
    let m2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sdruno.sigmf-meta")).unwrap())
            .unwrap();
    assert_eq!(m2["global"]["core:datatype"], "ci16_le");
    assert_eq!(m2["global"]["core:sample_rate"], 62500);
    assert_eq!(m2["captures"][0]["core:frequency"], 7_150_000.0);
    assert_eq!(m2["captures"][0]["core:datetime"], "2022-03-09T14:01:38Z");
}
