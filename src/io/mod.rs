//! I/O adapters around the engine.
#[cfg(feature = "device")]
pub mod device;
pub mod udp;
