//! I/O adapters: file formats and streams around the engine.

pub mod auxi;
pub mod iq;
pub mod iq_file;
pub mod riff;
pub mod sigmf;
