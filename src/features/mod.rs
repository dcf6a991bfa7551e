//! Features for classification (issue 12).
pub mod segment;
