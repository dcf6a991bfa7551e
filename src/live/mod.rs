//! The live path: device callbacks, rings, the worker thread, drift control, live control.
//! `core`, `drift`, `select` and `sim` import no audio API; `device` adapts cpal onto [`core`]
//! and `udp` feeds datagrams into it. (`io` is files and pipes only and never imports `live`.)
pub mod core;
#[cfg(feature = "device")]
pub mod device;
pub mod drift;
#[cfg(all(feature = "pipewire", target_os = "linux"))]
pub mod pw;
pub mod roundtrip;
pub mod select;
pub mod session;
pub mod sim;
pub mod udp;
