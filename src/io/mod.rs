//! File and stream adapters.
pub mod npy;
