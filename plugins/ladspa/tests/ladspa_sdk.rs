//! The reference LADSPA host tools (Debian `ladspa-sdk`: `analyseplugin`, `applyplugin`; `./dev.sh
//! test` installs them) load the built `.so`, see every plugin and run it.

mod common;
use common::{labels, noise, read_wav16, so_path, write_wav16, Host};
use std::process::Command;

fn tool(name: &str) -> Command {
    let probe = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{name} is missing: install Debian's ladspa-sdk (./dev.sh test does)"
    );
    Command::new(name)
}

#[test]
fn analyseplugin_lists_every_plugin_with_its_controls_and_latency_port_and_no_errors() {
    let o = tool("analyseplugin").arg(so_path()).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for l in labels() {
        assert!(
            text.contains(&format!("Plugin Label: \"{l}\"")),
            "{l}: {text}"
        );
    }
    assert!(!text.contains("ERROR"), "{text}");
    let voice = tool("analyseplugin")
        .arg(so_path())
        .arg("specgate_voice_mono")
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&voice.stdout);
    assert!(
        v.contains("\"Reduction (dB)\" input, control, 0 to 40, default 20"),
        "{v}"
    );
    assert!(
        v.contains("\"Bypass\" input, control, toggled, default 0"),
        "{v}"
    );
    assert!(v.contains("\"latency\" output, control"), "{v}");
    assert!(v.contains("Must Run Real-Time: Yes"), "{v}");
}

/// Runs `applyplugin` on an interleaved 16-bit WAV; returns the output samples.
fn apply(label: &str, channels: u16, rate: u32, input: &[f32], controls: &[&str]) -> Vec<i16> {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
    write_wav16(&inp, rate, channels, input);
    let o = tool("applyplugin")
        .arg(&inp)
        .arg(&out)
        .arg(so_path())
        .arg(label)
        .args(controls)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "applyplugin {label}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (s, ch, r) = read_wav16(&out);
    assert_eq!((ch, r), (channels, rate));
    s
}

fn as_i16(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

#[test]
fn applyplugin_with_reduction_zero_outputs_the_input_delayed_by_the_reported_latency() {
    for (label, channels, rate) in [
        ("specgate_voice_mono", 1u16, 48_000u32),
        ("specgate_voice_stereo", 2, 44_100),
        ("specgate_cw_mono", 1, 8_000),
    ] {
        let n = rate as usize * 2;
        let x = noise(n * channels as usize, 0.25, rate as u64);
        let out = apply(label, channels, rate, &x, &["0", "6", "0"]);
        let mut h = Host::new(label, rate as u64, 16);
        h.activate();
        let lat = h.latency() * channels as usize;
        assert!(lat > 0);
        let want = as_i16(&x);
        assert_eq!(out.len(), want.len(), "{label}");
        assert!(out[..lat].iter().all(|v| *v == 0), "{label}");
        assert_eq!(&out[lat..], &want[..want.len() - lat], "{label}");
    }
}

#[test]
fn applyplugin_with_the_preset_defaults_removes_steady_noise() {
    let rate = 48_000u32;
    let x = noise(3 * rate as usize, 0.1, 1);
    let out = apply("specgate_voice_mono", 1, rate, &x, &["20", "6", "0"]);
    let tail = &out[rate as usize..];
    let p_out = tail.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / tail.len() as f64;
    let xin = as_i16(&x[rate as usize..]);
    let p_in = xin.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / xin.len() as f64;
    let db = 10.0 * (p_in / p_out).log10();
    assert!(db > 12.0, "steady noise reduced by only {db:.1} dB");
}
