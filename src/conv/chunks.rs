//! Consecutive equal chunks of a flat buffer, with no panic path: how the convolution kernels
//! walk the images, groups and planes of their operands.

/// A shared or mutable slice that splits in two without a panic path.
pub(crate) trait Split: Sized {
    /// The first `at` elements and the rest, or `None` if there are fewer than `at`.
    fn split(self, at: usize) -> Option<(Self, Self)>;
}

impl<T> Split for &[T] {
    #[inline(always)]
    fn split(self, at: usize) -> Option<(Self, Self)> {
        self.split_at_checked(at)
    }
}

impl<T> Split for &mut [T] {
    #[inline(always)]
    fn split(self, at: usize) -> Option<(Self, Self)> {
        self.split_at_mut_checked(at)
    }
}

/// The consecutive `len`-element chunks from the front of a slice: [`chunks`].
#[derive(Clone, Debug)]
pub(crate) struct Chunks<S> {
    rest: Option<S>,
    len: usize,
}

/// The consecutive `len`-element chunks from the front of `s`, as `chunks_exact` gives them
/// (a shorter remainder is left out), but built from checked splits, so there is no panic
/// path even where the optimizer cannot see that `len` is nonzero.
///
/// A zero `len` gives endless empty chunks: an input image of no elements still has its
/// channels, each of them an empty plane. Zip such an iterator with one over a buffer whose
/// chunks are never empty (the output's, the weights').
#[inline(always)]
pub(crate) fn chunks<S: Split>(s: S, len: usize) -> Chunks<S> {
    Chunks { rest: Some(s), len }
}

impl<S: Split> Iterator for Chunks<S> {
    type Item = S;

    #[inline(always)]
    fn next(&mut self) -> Option<S> {
        let (chunk, rest) = self.rest.take()?.split(self.len)?;
        self.rest = Some(rest);
        Some(chunk)
    }

    /// Skips `n` chunks in one split.
    #[inline(always)]
    fn nth(&mut self, n: usize) -> Option<S> {
        let skip = self.len.checked_mul(n)?;
        let (_, rest) = self.rest.take()?.split(skip)?;
        self.rest = Some(rest);
        self.next()
    }
}

/// `s` after its first `start` elements: empty if it is shorter, which the matrix views built
/// on it then refuse as too short (an error, never a panic).
#[inline(always)]
pub(crate) fn after<S: Split + Default>(s: S, start: usize) -> S {
    s.split(start).map(|(_, rest)| rest).unwrap_or_default()
}
