//! Seeing signals: spectrogram images.
mod font;
pub mod render;
