#!/usr/bin/env python3
"""Local evaluation on real (synthesised) speech — not run in CI.

Makes speech with espeak-ng, converts it to 8/16/48 kHz, mixes white and pink noise at 0/5/10 dB
with `specgate eval --clean ... --save DIR` (which also filters with specgate, blind tracking),
then runs the anchors on the *same* mixtures, each *with* a 2 s clip of the same noise:
  - SoX:         sox noise.wav -n noiseprof P ; sox noisy.wav out.wav noisered P 0.21
  - noisereduce: noisereduce.reduce_noise(y, sr, y_noise=clip, stationary=True)  (if installed)
and scores every output with the same metrics (`specgate eval --clean --noisy --enhanced`).
Prints a Markdown table of means per rate and tool.

With --family F (cw, am, music, tones, speech) it does the same on the drawn families of
`specgate eval --family F --seed SEEDS` (each family with its own preset, blind; the anchors get
the 2 s of noise just before the signal) instead of espeak-ng speech, and prints blind, learned
(`--learn 1`), SoX and noisereduce side by side.

Usage: python3 tools/eval_real_speech.py [--specgate PATH] [--preset voice] [--work DIR]
       python3 tools/eval_real_speech.py --family cw --seeds 101..110 [--snr -10,0] [--noise whitepink]
Needs: espeak-ng, sox, python3 with numpy + soundfile; optional: pip install noisereduce.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

TEXT = (
    "CQ CQ, this is a test of the noise filter. The quick brown fox jumps over the lazy dog. "
    "Good morning, thanks for the report, you are five and nine here, the band is open to Europe "
    "tonight. Please copy the numbers: one, two, three, four, five. Seventy three, and good luck."
)
RATES = [8000, 16000, 48000]
SNRS = "0,5,10"
NOISES = "white,pink"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def score(specgate, clean, noisy, enhanced):
    out = run([specgate, "eval", "--clean", clean, "--noisy", noisy, "--enhanced", enhanced, "--json"])
    return json.loads(out.stdout)["cases"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--specgate", default=None, help="specgate binary (default: cargo build --release)")
    ap.add_argument("--preset", default="voice")
    ap.add_argument("--work", default=None, help="working directory (default: a temp dir)")
    ap.add_argument("--sox-amount", default="0.21")
    ap.add_argument("--family", default=None, help="drawn family instead of espeak-ng speech")
    ap.add_argument("--seeds", default="101..110", help="family seeds (held out from tuning: 101..)")
    ap.add_argument("--snr", default=None, help="family SNRs (default: the family's)")
    ap.add_argument("--noise", default=None, help="family noises (default: the family's)")
    ap.add_argument("--event", default="none", help="family noise event")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    specgate = args.specgate
    if specgate is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
        specgate = os.path.join(root, "target", "release", "specgate")
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    try:
        import noisereduce  # noqa: F401
        import numpy as np
        import soundfile as sf
        have_nr = True
    except ImportError:
        have_nr = False
        print("noisereduce not installed: skipping it (pip install noisereduce)", file=sys.stderr)

    work = args.work or tempfile.mkdtemp(prefix="specgate-eval-")
    os.makedirs(work, exist_ok=True)
    rows = {}  # (rate, tool) -> list of case dicts

    def anchors(save, rate_of):
        """SoX and noisereduce on every mixture saved in `save`, each with its noise clip."""
        stems = sorted({f[: -len("_clean.wav")] for f in os.listdir(save) if f.endswith("_clean.wav")})
        for stem in stems:
            rate = rate_of(stem)
            p = lambda kind: os.path.join(save, f"{stem}_{kind}.wav")  # noqa: E731
            prof = p("prof").replace(".wav", ".txt")
            run(["sox", p("noise"), "-n", "noiseprof", prof])
            sox_out = p("sox")
            run(["sox", p("noisy"), sox_out, "noisered", prof, args.sox_amount])
            rows.setdefault((rate, f"SoX noisered {args.sox_amount}"), []).append(
                score(specgate, p("clean"), p("noisy"), sox_out))
            if have_nr:
                import noisereduce as nr
                y, sr = sf.read(p("noisy"), dtype="float32")
                clip, _ = sf.read(p("noise"), dtype="float32")
                e = nr.reduce_noise(y=y, sr=sr, y_noise=clip, stationary=True)
                nr_out = p("noisereduce")
                sf.write(nr_out, np.asarray(e, dtype=np.float32), sr, subtype="FLOAT")
                rows.setdefault((rate, "noisereduce (stationary)"), []).append(
                    score(specgate, p("clean"), p("noisy"), nr_out))

    if args.family:
        save = os.path.join(work, args.family)
        cmd = [specgate, "eval", "--family", args.family, "--seed", args.seeds, "--event", args.event,
               "--save", save, "--json", "--vs-learn"]
        if args.snr:
            cmd += ["--snr", args.snr]
        if args.noise:
            cmd += ["--noise", args.noise]
        cases = json.loads(run(cmd).stdout)["cases"]
        rows[("all", f"specgate {args.family} preset, blind")] = cases
        rows[("all", "specgate, --learn 1")] = [
            dict(c, si_sdr_imp=c["learned_si_sdr_imp"]) for c in cases]
        anchors(save, lambda stem: "all")
        print(f"family {args.family}, seeds {args.seeds}, event {args.event}; specgate blind and with "
              f"--learn 1 (the 1 s of noise before the signal), others with the 2 s noise clip; "
              f"work dir {work}\n")
        print("| tool | ΔSI-SDR dB | ΔsegSNR dB | LSD in→out dB | STOI in→out |")
        print("|---|---|---|---|---|")
        for (_, tool), cs in rows.items():
            m = lambda k: sum(c[k] for c in cs) / len(cs)  # noqa: E731
            st = [c for c in cs if c.get("stoi_in") is not None]
            sts = (f"{sum(c['stoi_in'] for c in st) / len(st):.3f}→"
                   f"{sum(c['stoi_out'] for c in st) / len(st):.3f}") if st else "n/a"
            seg = f"{m('seg_snr_imp'):+.2f}" if "learn 1" not in tool else "—"
            lsd = f"{m('lsd_in'):.2f}→{m('lsd_out'):.2f}" if "learn 1" not in tool else "—"
            print(f"| {tool} | {m('si_sdr_imp'):+.2f} | {seg} | {lsd} | {sts if 'learn 1' not in tool else '—'} |")
        return

    raw = os.path.join(work, "espeak.wav")
    run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", raw, TEXT])
    for rate in RATES:
        clean = os.path.join(work, f"speech{rate // 1000}k.wav")
        # espeak-ng speaks at 22.05 kHz: 48 kHz has nothing above 11 kHz.
        run(["sox", raw, "-r", str(rate), "-c", "1", "-b", "32", "-e", "floating-point", clean])
        save = os.path.join(work, f"r{rate}")
        out = run([specgate, "eval", "--preset", args.preset, "--clean", clean, "--snr", SNRS,
                   "--noise", NOISES, "--save", save, "--json"])
        rows[(rate, "specgate " + args.preset)] = json.loads(out.stdout)["cases"]
        anchors(save, lambda stem, r=rate: r)

    print(f"espeak-ng speech, white+pink noise at {SNRS} dB (full-band SNR); "
          f"specgate blind, others with a 2 s noise clip; work dir {work}\n")
    print("| rate | tool | ΔSI-SDR dB | ΔsegSNR dB | LSD in→out dB | musical noise (LKR) | STOI in→out |")
    print("|---|---|---|---|---|---|---|")
    for (rate, tool), cases in rows.items():
        m = lambda k: sum(c[k] for c in cases) / len(cases)  # noqa: E731
        mn = [c["musical_noise"] for c in cases if c["musical_noise"] is not None]
        mns = f"{sum(mn) / len(mn):.2f}" if mn else "n/a"
        print(f"| {rate // 1000} kHz | {tool} | {m('si_sdr_imp'):+.2f} | {m('seg_snr_imp'):+.2f} | "
              f"{m('lsd_in'):.2f}→{m('lsd_out'):.2f} | {mns} | {m('stoi_in'):.3f}→{m('stoi_out'):.3f} |")


if __name__ == "__main__":
    main()
