//! The quality bars of the project (issue "Engine", section 4), with blind noise tracking:
//! - voice preset, speech-like signal in white noise at 0/5/10 dB: mean SI-SDR improvement ≥ +6 dB;
//! - cw preset, Morse in white and pink noise at 0 dB: mean SI-SDR improvement ≥ +8 dB.
//!
//! Each at 48 kHz, at 16 kHz and 8 kHz, and for a second seed. (For scale: SoX `noisered` reaches
//! about +3 dB and noisereduce about +5 dB on such speech, both *with* a noise clip.)

use specgate::eval::signals::NoiseColour;
use specgate::eval::{mean_scores, run_case, Builtin};
use specgate::params::{resolve, ParamsPatch};

const SECONDS: f64 = 10.0;
const VOICE_BAR_DB: f64 = 6.0;
const CW_BAR_DB: f64 = 8.0;

/// Mean SI-SDR improvement of `preset` on `signal` over the noise × SNR grid; prints every case.
fn mean_improvement(
    preset: &str,
    signal: Builtin,
    noises: &[NoiseColour],
    snrs: &[f64],
    rate: u32,
    seed: u64,
) -> f64 {
    let params = resolve(preset, None, &ParamsPatch::default()).unwrap();
    let clean = signal.generate(rate, SECONDS, seed);
    let mut results = Vec::new();
    for &colour in noises {
        for &snr in snrs {
            let (r, _, _) =
                run_case(&params, signal.name(), &clean, colour, rate, snr, seed).unwrap();
            eprintln!(
                "{preset} {} {} {snr} dB {rate} Hz seed {seed}: SI-SDR {:.2} -> {:.2} ({:+.2} dB)",
                signal.name(),
                colour.name(),
                r.scores.si_sdr_in,
                r.scores.si_sdr_out,
                r.scores.si_sdr_imp
            );
            results.push(r);
        }
    }
    let m = mean_scores(&results).unwrap().si_sdr_imp;
    eprintln!("{preset} {rate} Hz seed {seed}: mean SI-SDR improvement {m:+.2} dB");
    m
}

fn voice_bar(rate: u32, seed: u64) {
    let m = mean_improvement(
        "voice",
        Builtin::Speech,
        &[NoiseColour::White],
        &[0.0, 5.0, 10.0],
        rate,
        seed,
    );
    assert!(
        m >= VOICE_BAR_DB,
        "voice on speech in white noise at {rate} Hz, seed {seed}: mean SI-SDR improvement \
         {m:+.2} dB is under the +{VOICE_BAR_DB} dB bar"
    );
}

fn cw_bar(rate: u32, seed: u64) {
    let m = mean_improvement(
        "cw",
        Builtin::Cw,
        &[NoiseColour::White, NoiseColour::Pink],
        &[0.0],
        rate,
        seed,
    );
    assert!(
        m >= CW_BAR_DB,
        "cw on Morse in white+pink noise at 0 dB, {rate} Hz, seed {seed}: mean SI-SDR \
         improvement {m:+.2} dB is under the +{CW_BAR_DB} dB bar"
    );
}

#[test]
fn voice_preset_gains_6_db_si_sdr_on_speech_in_white_noise_at_48k() {
    voice_bar(48_000, 1);
}

#[test]
fn voice_preset_gains_6_db_si_sdr_on_speech_in_white_noise_at_16k() {
    voice_bar(16_000, 1);
}

#[test]
fn voice_preset_gains_6_db_si_sdr_on_speech_in_white_noise_at_8k() {
    voice_bar(8_000, 1);
}

#[test]
fn voice_preset_gains_6_db_si_sdr_on_speech_in_white_noise_for_a_second_seed() {
    voice_bar(48_000, 2);
}

#[test]
fn cw_preset_gains_8_db_si_sdr_on_morse_in_white_and_pink_noise_at_48k() {
    cw_bar(48_000, 1);
}

#[test]
fn cw_preset_gains_8_db_si_sdr_on_morse_in_white_and_pink_noise_at_16k() {
    cw_bar(16_000, 1);
}

#[test]
fn cw_preset_gains_8_db_si_sdr_on_morse_in_white_and_pink_noise_at_8k() {
    cw_bar(8_000, 1);
}

#[test]
fn cw_preset_gains_8_db_si_sdr_on_morse_in_white_and_pink_noise_for_a_second_seed() {
    cw_bar(48_000, 2);
}
