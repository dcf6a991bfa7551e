//! The live path: device callbacks, rings, the worker thread, drift control, live control.
//! Nothing here imports an audio API; `io::device` adapts cpal onto [`core`].
pub mod core;
pub mod drift;
pub mod select;
pub mod sim;
