//! specgate as a LADSPA plugin: `libspecgate_ladspa.so`, one plugin per preset (voice, cw, am,
//! nfm), each mono and stereo. Labels: `specgate_<preset>_mono`, `specgate_<preset>_stereo`.
//!
//! Ports: audio in/out per channel; control inputs `Reduction (dB)`, `Threshold (dB)` and
//! `Bypass`, whose defaults are the preset's values; a control output `latency` carrying
//! [`Engine::latency_samples`] (the name hosts such as PipeWire's filter-chain and Ardour read).
//!
//! The LADSPA C ABI is written out here (about 60 lines of `repr(C)` from `ladspa.h`) rather
//! than taken from the `ladspa` crate: its last release (0.3.4) builds `&[f32]` and `&mut [f32]`
//! slices over the same memory when a host processes in place (undefined behaviour in Rust),
//! panics inside `extern "C"` callbacks on bad port numbers and keeps its descriptors in a
//! `static mut`. No other maintained crate covers plugin-side LADSPA.
//!
//! Real time: `run()` never allocates, locks or blocks (see `tests/rt_no_alloc.rs`): it copies
//! the host's buffers through preallocated interleaving buffers into [`Engine::process`] and
//! applies control changes with [`Engine::update_params`]. `activate()` resets the filter (a
//! fresh engine at the current control values: activation is outside the real-time path).

#![allow(clippy::missing_safety_doc)]

use specgate::engine::{Engine, SignalKind};
use specgate::params::{self, Params, ParamsPatch};
use std::ffi::{c_char, c_ulong, c_void, CStr};
use std::sync::OnceLock;

/// The LADSPA ABI (ladspa.h, version 1.1).
pub mod abi {
    use std::ffi::{c_char, c_int, c_ulong, c_void};

    pub type Data = f32;
    pub type Handle = *mut c_void;

    pub const PROPERTY_REALTIME: c_int = 0x1;
    pub const PROPERTY_HARD_RT_CAPABLE: c_int = 0x4;

    pub const PORT_INPUT: c_int = 0x1;
    pub const PORT_OUTPUT: c_int = 0x2;
    pub const PORT_CONTROL: c_int = 0x4;
    pub const PORT_AUDIO: c_int = 0x8;

    pub const HINT_BOUNDED_BELOW: c_int = 0x1;
    pub const HINT_BOUNDED_ABOVE: c_int = 0x2;
    pub const HINT_TOGGLED: c_int = 0x4;
    pub const HINT_INTEGER: c_int = 0x20;
    pub const HINT_DEFAULT_MIDDLE: c_int = 0xC0;
    pub const HINT_DEFAULT_0: c_int = 0x200;

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct PortRangeHint {
        pub hint_descriptor: c_int,
        pub lower_bound: Data,
        pub upper_bound: Data,
    }

    #[repr(C)]
    pub struct Descriptor {
        pub unique_id: c_ulong,
        pub label: *const c_char,
        pub properties: c_int,
        pub name: *const c_char,
        pub maker: *const c_char,
        pub copyright: *const c_char,
        pub port_count: c_ulong,
        pub port_descriptors: *const c_int,
        pub port_names: *const *const c_char,
        pub port_range_hints: *const PortRangeHint,
        pub implementation_data: *mut c_void,
        pub instantiate: Option<unsafe extern "C" fn(*const Descriptor, c_ulong) -> Handle>,
        pub connect_port: Option<unsafe extern "C" fn(Handle, c_ulong, *mut Data)>,
        pub activate: Option<unsafe extern "C" fn(Handle)>,
        pub run: Option<unsafe extern "C" fn(Handle, c_ulong)>,
        pub run_adding: Option<unsafe extern "C" fn(Handle, c_ulong)>,
        pub set_run_adding_gain: Option<unsafe extern "C" fn(Handle, Data)>,
        pub deactivate: Option<unsafe extern "C" fn(Handle)>,
        pub cleanup: Option<unsafe extern "C" fn(Handle)>,
    }
}

/// The presets offered as plugins (`digital` is a bypass and `iq` is for complex input).
pub const PRESETS: &[&str] = &["voice", "cw", "am", "nfm"];
/// First LADSPA unique ID; plugin `k` (preset-major, mono then stereo) is `ID_BASE + k`.
pub const ID_BASE: c_ulong = 0x53_4700; // "SG"
/// Frames per internal block of `run()`.
const BLOCK: usize = 1024;

/// Port layout of a plugin with `ch` channels: inputs, outputs, then the controls.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub channels: usize,
}
impl Layout {
    pub fn input(&self, c: usize) -> usize {
        c
    }
    pub fn output(&self, c: usize) -> usize {
        self.channels + c
    }
    pub fn reduction(&self) -> usize {
        2 * self.channels
    }
    pub fn threshold(&self) -> usize {
        2 * self.channels + 1
    }
    pub fn bypass(&self) -> usize {
        2 * self.channels + 2
    }
    pub fn latency(&self) -> usize {
        2 * self.channels + 3
    }
    pub fn ports(&self) -> usize {
        2 * self.channels + 4
    }
}

/// What one descriptor stands for.
struct PluginDef {
    preset: &'static str,
    layout: Layout,
    params: Params,
}

/// A descriptor and the storage its pointers point into (never freed: `'static`).
struct Entry {
    desc: abi::Descriptor,
    _strings: Vec<std::ffi::CString>,
    _names: Vec<*const c_char>,
    _kinds: Vec<i32>,
    _hints: Vec<abi::PortRangeHint>,
}
// The raw pointers in an `Entry` point into its own heap storage, written once and then only read.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

fn preset_params(name: &str) -> Params {
    params::resolve(name, None, &ParamsPatch::default()).expect("shipped preset is valid")
}

/// Reduction range: [0, 2 × preset] so that the LADSPA "middle" default is the preset's value.
fn reduction_range(p: &Params) -> (f32, f32) {
    (0.0, (2.0 * p.reduction_db as f32).max(1.0))
}
/// Threshold range: preset ± 20 dB (the "middle" default is the preset's value).
fn threshold_range(p: &Params) -> (f32, f32) {
    let t = p.threshold_db as f32;
    (t - 20.0, t + 20.0)
}

fn build_entry(index: usize) -> Entry {
    let preset = PRESETS[index / 2];
    let channels = 1 + index % 2;
    let layout = Layout { channels };
    let p = preset_params(preset);
    let variant = if channels == 1 { "mono" } else { "stereo" };
    let def = Box::new(PluginDef {
        preset,
        layout,
        params: p,
    });
    let cs = |s: String| std::ffi::CString::new(s).expect("no NUL");
    let side = |c: usize| match (channels, c) {
        (1, _) => String::new(),
        (_, 0) => " L".into(),
        _ => " R".into(),
    };
    let mut names: Vec<String> = Vec::new();
    let mut kinds = Vec::new();
    let mut hints = Vec::new();
    let none = abi::PortRangeHint {
        hint_descriptor: 0,
        lower_bound: 0.0,
        upper_bound: 0.0,
    };
    for c in 0..channels {
        names.push(format!("Input{}", side(c)));
        kinds.push(abi::PORT_INPUT | abi::PORT_AUDIO);
        hints.push(none);
    }
    for c in 0..channels {
        names.push(format!("Output{}", side(c)));
        kinds.push(abi::PORT_OUTPUT | abi::PORT_AUDIO);
        hints.push(none);
    }
    let bounded = abi::HINT_BOUNDED_BELOW | abi::HINT_BOUNDED_ABOVE;
    let (rl, rh) = reduction_range(&p);
    names.push("Reduction (dB)".into());
    kinds.push(abi::PORT_INPUT | abi::PORT_CONTROL);
    hints.push(abi::PortRangeHint {
        hint_descriptor: bounded | abi::HINT_DEFAULT_MIDDLE,
        lower_bound: rl,
        upper_bound: rh,
    });
    let (tl, th) = threshold_range(&p);
    names.push("Threshold (dB)".into());
    kinds.push(abi::PORT_INPUT | abi::PORT_CONTROL);
    hints.push(abi::PortRangeHint {
        hint_descriptor: bounded | abi::HINT_DEFAULT_MIDDLE,
        lower_bound: tl,
        upper_bound: th,
    });
    names.push("Bypass".into());
    kinds.push(abi::PORT_INPUT | abi::PORT_CONTROL);
    hints.push(abi::PortRangeHint {
        hint_descriptor: abi::HINT_TOGGLED | abi::HINT_DEFAULT_0,
        lower_bound: 0.0,
        upper_bound: 1.0,
    });
    names.push("latency".into());
    kinds.push(abi::PORT_OUTPUT | abi::PORT_CONTROL);
    hints.push(abi::PortRangeHint {
        hint_descriptor: abi::HINT_BOUNDED_BELOW | abi::HINT_INTEGER,
        lower_bound: 0.0,
        upper_bound: 0.0,
    });
    debug_assert_eq!(names.len(), layout.ports());

    let mut strings: Vec<std::ffi::CString> = names.into_iter().map(cs).collect();
    let name_ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    let label = cs(format!("specgate_{preset}_{variant}"));
    let title = cs(format!("specgate spectral gate ({preset}, {variant})"));
    let maker = cs("specgate".into());
    let copyright = cs("MIT OR Apache-2.0".into());
    let desc = abi::Descriptor {
        unique_id: ID_BASE + index as c_ulong,
        label: label.as_ptr(),
        properties: abi::PROPERTY_REALTIME | abi::PROPERTY_HARD_RT_CAPABLE,
        name: title.as_ptr(),
        maker: maker.as_ptr(),
        copyright: copyright.as_ptr(),
        port_count: layout.ports() as c_ulong,
        port_descriptors: kinds.as_ptr(),
        port_names: name_ptrs.as_ptr(),
        port_range_hints: hints.as_ptr(),
        implementation_data: Box::into_raw(def) as *mut c_void,
        instantiate: Some(instantiate),
        connect_port: Some(connect_port),
        activate: Some(activate),
        run: Some(run),
        run_adding: None,
        set_run_adding_gain: None,
        deactivate: None,
        cleanup: Some(cleanup),
    };
    strings.extend([label, title, maker, copyright]);
    Entry {
        desc,
        _strings: strings,
        _names: name_ptrs,
        _kinds: kinds,
        _hints: hints,
    }
}

fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| (0..2 * PRESETS.len()).map(build_entry).collect())
}

/// The LADSPA entry point: descriptor `index`, or null past the last one.
#[no_mangle]
pub extern "C" fn ladspa_descriptor(index: c_ulong) -> *const abi::Descriptor {
    let built = std::panic::catch_unwind(entries);
    match built {
        Ok(e) => e
            .get(index as usize)
            .map_or(std::ptr::null(), |e| &e.desc as *const _),
        Err(_) => std::ptr::null(),
    }
}

/// The label of a descriptor (for tests and tools).
pub fn label(desc: &abi::Descriptor) -> &str {
    unsafe { CStr::from_ptr(desc.label) }.to_str().unwrap_or("")
}

/// One plugin instance.
struct Instance {
    def: &'static PluginDef,
    rate: u32,
    engine: Engine,
    ports: Vec<*mut f32>,
    /// Interleaved input and output of one block.
    inter_in: Vec<f32>,
    inter_out: Vec<f32>,
    /// Control values in effect (reduction dB, threshold dB, bypass).
    applied: (f32, f32, bool),
}

impl Instance {
    fn control(&self, port: usize) -> Option<f32> {
        let p = self.ports[port];
        if p.is_null() {
            return None;
        }
        let v = unsafe { p.read() };
        v.is_finite().then_some(v)
    }

    /// The control inputs as (reduction, threshold, bypass), clamped to the port ranges; an
    /// unconnected or non-finite control keeps the value in effect.
    fn controls(&self) -> (f32, f32, bool) {
        let l = self.def.layout;
        let (rl, rh) = reduction_range(&self.def.params);
        let (tl, th) = threshold_range(&self.def.params);
        let r = self
            .control(l.reduction())
            .map_or(self.applied.0, |v| v.clamp(rl, rh));
        let t = self
            .control(l.threshold())
            .map_or(self.applied.1, |v| v.clamp(tl.max(-20.0), th.min(60.0)));
        let b = self.control(l.bypass()).map_or(self.applied.2, |v| v > 0.5);
        (r, t, b)
    }

    fn params_for(&self, c: (f32, f32, bool)) -> Params {
        Params {
            reduction_db: c.0 as f64,
            threshold_db: c.1 as f64,
            bypass: c.2,
            ..self.def.params
        }
    }

    fn write_latency(&self) {
        let p = self.ports[self.def.layout.latency()];
        if !p.is_null() {
            unsafe { p.write(self.engine.latency_samples() as f32) };
        }
    }
}

fn default_controls(p: &Params) -> (f32, f32, bool) {
    (p.reduction_db as f32, p.threshold_db as f32, p.bypass)
}

unsafe extern "C" fn instantiate(desc: *const abi::Descriptor, rate: c_ulong) -> abi::Handle {
    let made = std::panic::catch_unwind(|| {
        let def: &'static PluginDef = &*((*desc).implementation_data as *const PluginDef);
        let rate = u32::try_from(rate).ok()?;
        let ch = def.layout.channels;
        let engine = Engine::new(&def.params, rate, ch, SignalKind::Real).ok()?;
        Some(Box::new(Instance {
            def,
            rate,
            engine,
            ports: vec![std::ptr::null_mut(); def.layout.ports()],
            inter_in: vec![0.0; BLOCK * ch],
            inter_out: vec![0.0; BLOCK * ch],
            applied: default_controls(&def.params),
        }))
    });
    match made {
        Ok(Some(b)) => Box::into_raw(b) as abi::Handle,
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn connect_port(h: abi::Handle, port: c_ulong, data: *mut f32) {
    let inst = &mut *(h as *mut Instance);
    if let Some(slot) = inst.ports.get_mut(port as usize) {
        *slot = data;
    }
}

unsafe extern "C" fn activate(h: abi::Handle) {
    let inst = &mut *(h as *mut Instance);
    // A fresh filter at the current controls: no noise floor, gains or history carried over,
    // and no crossfade from the preset's values. (Becomes `Engine::reset()` + `update_params`
    // once the engine has a reset.)
    let c = inst.controls();
    let p = inst.params_for(c);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Ok(e) = Engine::new(&p, inst.rate, inst.def.layout.channels, SignalKind::Real) {
            inst.engine = e;
            inst.applied = c;
        }
    }));
    inst.write_latency();
}

unsafe extern "C" fn run(h: abi::Handle, sample_count: c_ulong) {
    let inst = &mut *(h as *mut Instance);
    let l = inst.def.layout;
    let ch = l.channels;
    let c = inst.controls();
    if c != inst.applied {
        let p = inst.params_for(c);
        inst.engine.update_params(&p);
        inst.applied = c;
    }
    inst.write_latency();
    if (0..ch).any(|c| inst.ports[l.input(c)].is_null() || inst.ports[l.output(c)].is_null()) {
        return;
    }
    let n = sample_count as usize;
    let mut f0 = 0;
    while f0 < n {
        let k = (n - f0).min(BLOCK);
        // Read every input of this block before writing any output: hosts may process in place.
        for c in 0..ch {
            let src = std::slice::from_raw_parts(inst.ports[l.input(c)].add(f0), k);
            for (d, s) in inst.inter_in[c..k * ch].iter_mut().step_by(ch).zip(src) {
                *d = *s;
            }
        }
        inst.engine
            .process(&inst.inter_in[..k * ch], &mut inst.inter_out[..k * ch]);
        for c in 0..ch {
            let dst = std::slice::from_raw_parts_mut(inst.ports[l.output(c)].add(f0), k);
            for (d, s) in dst
                .iter_mut()
                .zip(inst.inter_out[c..k * ch].iter().step_by(ch))
            {
                *d = *s;
            }
        }
        f0 += k;
    }
}

unsafe extern "C" fn cleanup(h: abi::Handle) {
    if !h.is_null() {
        drop(Box::from_raw(h as *mut Instance));
    }
}

/// The preset a descriptor runs (for tests).
pub fn preset_of(desc: &abi::Descriptor) -> &'static str {
    unsafe { &*(desc.implementation_data as *const PluginDef) }.preset
}
