//! Whether an operation overwrites its output or adds into it.

/// What an operation does with the values already in its output buffer.
///
/// `Replace` never reads the output: NaN or garbage there cannot leak into the result.
/// `Add` accumulates, which is how gradients are summed across micro-batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accum {
    /// `out = result`.
    Replace,
    /// `out += result`.
    Add,
}
