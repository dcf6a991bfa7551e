//! Seeing signals: spectrogram images, and audio back from a spectrogram ([`invert`]).
mod font;
pub mod invert;
pub mod render;
pub mod spectrogram;
