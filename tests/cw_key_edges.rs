//! CW keying edges survive the cw preset (blind) on held-out drawn cases: rise and fall times,
//! clicks and chirp of every key edge compared with the clean keying (`eval::metrics::key_edges`).

use specgate::eval::families::{Event, Family};
use specgate::eval::metrics::{key_edges, KEY_CLICK_FLOOR_DB};
use specgate::eval::signals::{morse_keyed, Keying, NoiseColour};
use specgate::eval::{enhance_mixture, mix_family};
use specgate::params::{resolve, ParamsPatch};

fn keying(edge_s: f64) -> Keying<'static> {
    Keying {
        text: "TEST DE DL1ABC",
        wpm: 12.0,
        tone_hz: 713.3,
        drift_hz_s: 0.0,
        amp: 0.3,
        lead_s: 0.3,
        edge_s,
    }
}

#[test]
fn the_edge_check_sees_the_clicks_and_fast_edges_of_hard_keying() {
    let rate = 12_000;
    let soft = morse_keyed(rate, 6.0, &keying(0.005));
    let hard = morse_keyed(rate, 6.0, &keying(0.0));
    let same = key_edges(&soft, &soft, rate).unwrap();
    assert!(same.edges >= 10, "{same:?}");
    assert_eq!(same.click_out_db, same.click_clean_db);
    assert!((same.rise_clean_ms - 0.59 * 5.0).abs() < 1.0, "{same:?}"); // raised cosine 10–90 %
    let k = key_edges(&soft, &hard, rate).unwrap();
    assert!(k.click_out_db > k.click_clean_db + 10.0, "{k:?}");
    // Sharper than the 5 ms raised cosine (the measurement band, ±400 Hz, resolves ~2.5 ms).
    assert!(
        k.rise_out_ms < same.rise_clean_ms - 0.5 && k.fall_out_ms < same.fall_clean_ms - 0.5,
        "{k:?}"
    );
}

/// The cw preset keeps the keying of every held-out case (seeds 101–110, drawn tone, speed,
/// drift and rate) at 0 and −10 dB: it adds no clicks (nothing splattered out of the tone's band
/// above the residual noise) and no chirp (the tone's frequency stays within 15 Hz through each
/// edge; the noisy input itself wanders 45–280 Hz there), and never makes an edge sharper than
/// the transmitted one. It does soften the edges: the 40 ms synthesis window spreads the gate's
/// opening, so 3–5 ms edges come out 11–30 ms (10–90 %); the bound holds them under 35 ms.
#[test]
fn cw_preset_adds_no_clicks_or_chirp_and_keeps_edges_under_35_ms_on_held_out_cases() {
    let params = resolve("cw", None, &ParamsPatch::default()).unwrap();
    for seed in 101..=110u64 {
        let d = Family::Cw.draw(None, 8.0, seed);
        for snr in [0.0, -10.0] {
            let (m, _) = mix_family(&d, NoiseColour::WhitePink, Event::None, snr, seed);
            let out = enhance_mixture(&params, d.rate, &m).unwrap();
            let k = key_edges(&m.clean, &out, d.rate).expect("the case has key edges");
            let what = format!("seed {seed} {snr} dB {}: {k:?}", d.detail);
            println!("{what}");
            assert!(k.edges >= 4, "{what}");
            assert!(
                k.click_out_db <= (k.click_clean_db + 3.0).max(KEY_CLICK_FLOOR_DB),
                "clicks: {what}"
            );
            assert!(k.chirp_out_hz < 15.0, "chirp: {what}");
            for (out, clean) in [
                (k.rise_out_ms, k.rise_clean_ms),
                (k.fall_out_ms, k.fall_clean_ms),
            ] {
                assert!(out >= clean - 1.0 && out < 35.0, "edge time: {what}");
            }
        }
    }
}
