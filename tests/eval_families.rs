//! The drawn evaluation families: reproducible from the seed, drawn across the ranges the air
//! has, with the SNR definition; and the quality bars the presets reach on them (blind).

use specgate::eval::families::{Event, Family, RATES};
use specgate::eval::metrics::si_sdr_improvement;
use specgate::eval::signals::NoiseColour;
use specgate::eval::{enhance_mixture, mix_family};
use specgate::params::{resolve, ParamsPatch};

#[test]
fn a_seed_draws_the_same_case_every_time_and_another_seed_a_different_one() {
    for fam in [
        Family::Cw,
        Family::Am,
        Family::Music,
        Family::Tones,
        Family::Speech,
    ] {
        let a = fam.draw(Some(8000), 2.0, 7);
        let b = fam.draw(Some(8000), 2.0, 7);
        let c = fam.draw(Some(8000), 2.0, 8);
        assert_eq!(a.clean, b.clean, "{}", fam.name());
        assert_ne!(a.clean, c.clean, "{}", fam.name());
    }
}

#[test]
fn cw_cases_span_tones_speeds_and_rates() {
    let (mut lo, mut hi) = (f64::MAX, 0.0f64);
    let mut rates = std::collections::BTreeSet::new();
    let (mut slow, mut fast) = (false, false);
    for seed in 1..150 {
        let d = Family::Cw.draw(None, 0.5, seed);
        rates.insert(d.rate);
        let tone: f64 = d.detail.split("Hz").next().unwrap().parse().unwrap();
        let wpm: f64 = d
            .detail
            .split(' ')
            .nth(1)
            .unwrap()
            .trim_end_matches("wpm")
            .parse()
            .unwrap();
        lo = lo.min(tone);
        hi = hi.max(tone);
        slow |= wpm < 7.0;
        fast |= wpm > 30.0;
    }
    assert!(
        (400.0..430.0).contains(&lo) && hi <= 1000.0 && hi > 970.0,
        "tones {lo}..{hi}"
    );
    assert_eq!(rates.into_iter().collect::<Vec<_>>(), RATES.to_vec());
    assert!(slow && fast, "speeds do not span 5–40 wpm");
}

#[test]
fn cw_snr_is_key_down_tone_power_over_full_band_noise_power() {
    let d = Family::Cw.draw(Some(12000), 6.0, 3);
    for snr in [-10.0, 0.0] {
        let (m, _) = mix_family(&d, NoiseColour::WhitePink, Event::None, snr, 3);
        let pn = m
            .noisy
            .iter()
            .zip(&m.clean)
            .map(|(y, x)| ((y - x) as f64).powi(2))
            .sum::<f64>()
            / m.noisy.len() as f64;
        let got = 10.0 * (d.ref_power / pn).log10();
        assert!((got - snr).abs() < 0.01, "SNR {got} dB, asked {snr} dB");
        // And the key-down power is the tone's, not the clip's mean (which includes key-up).
        let mean = m.clean.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / m.clean.len() as f64;
        assert!(
            mean < 0.7 * d.ref_power,
            "mean {mean} vs key-down {}",
            d.ref_power
        );
    }
}

#[test]
fn a_noise_change_raises_or_lowers_the_floor_mid_clip() {
    let d = Family::Speech.draw(Some(8000), 8.0, 2);
    let (m, detail) = mix_family(&d, NoiseColour::White, Event::Change, 0.0, 2);
    assert!(detail.starts_with("change to"), "{detail}");
    let noise: Vec<f32> = m.noisy.iter().zip(&m.clean).map(|(y, x)| y - x).collect();
    let p = |s: &[f32]| s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / s.len() as f64;
    let (first, last) = (p(&noise[..8000 * 2]), p(&noise[8000 * 6..]));
    let db = 10.0 * (last / first).log10();
    assert!(db.abs() > 5.0, "floor changed by {db} dB only");
}

#[test]
fn learning_from_the_noise_before_the_signal_returns_the_signal_aligned() {
    let d = Family::Speech.draw(Some(8000), 3.0, 1);
    let (m, _) = mix_family(&d, NoiseColour::Pink, Event::None, 5.0, 1);
    let mut p = resolve("voice", None, &ParamsPatch::default()).unwrap();
    p.learn = 1.0;
    let out = enhance_mixture(&p, 8000, &m).unwrap();
    assert_eq!(out.len(), m.noisy.len());
    assert!(si_sdr_improvement(&m.clean, &m.noisy, &out) > 3.0);
}

/// Mean blind ΔSI-SDR of a family's own preset over `seeds` at `snr`, one rate.
fn bar(fam: Family, rate: u32, snr: f64, seeds: &[u64], noise: NoiseColour) -> f64 {
    let p = resolve(fam.preset(), None, &ParamsPatch::default()).unwrap();
    let mut sum = 0.0;
    for &s in seeds {
        let d = fam.draw(Some(rate), 8.0, s);
        let (m, _) = mix_family(&d, noise, Event::None, snr, s);
        let out = enhance_mixture(&p, rate, &m).unwrap();
        let v = si_sdr_improvement(&m.clean, &m.noisy, &out);
        eprintln!("{} {rate} Hz {snr} dB seed {s}: {v:+.2} dB", fam.name());
        sum += v;
    }
    sum / seeds.len() as f64
}

#[test]
fn cw_preset_gains_10_db_at_0_db_and_6_db_at_minus_10_db_key_down_in_white_plus_pink() {
    let at0 = bar(Family::Cw, 12000, 0.0, &[1, 2], NoiseColour::WhitePink);
    assert!(at0 >= 10.0, "0 dB: {at0:+.2}");
    let at10 = bar(Family::Cw, 12000, -10.0, &[1, 2], NoiseColour::WhitePink);
    assert!(at10 >= 6.0, "−10 dB: {at10:+.2}");
}

#[test]
fn am_preset_gains_9_db_on_am_speech_over_hiss_and_hum() {
    let v = bar(Family::Am, 12000, 5.0, &[1, 2], NoiseColour::Hum);
    assert!(v >= 9.0, "{v:+.2}");
}

#[test]
fn am_preset_keeps_music_at_20_db() {
    let v = bar(Family::Music, 12000, 20.0, &[2], NoiseColour::Hum);
    assert!(v >= -0.5, "{v:+.2}");
}
