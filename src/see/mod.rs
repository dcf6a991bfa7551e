//! Seeing signals: spectrogram images.
pub mod render;
