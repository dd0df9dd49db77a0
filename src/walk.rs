//! Consecutive equal chunks of a flat buffer, with no panic path: how the convolution and
//! pooling kernels walk the images, groups, planes and rows of their operands.

use core::marker::PhantomData;

/// A shared or mutable slice, split without a panic path.
pub(crate) trait Split: Sized + Default {
    /// The iterator over its chunks.
    type Chunks: Iterator<Item = Self>;

    /// Its consecutive `len`-element chunks: see [`chunks`].
    fn chunks_of(self, len: usize) -> Self::Chunks;

    /// The first `at` elements and the rest, or `None` if there are fewer than `at`.
    fn split(self, at: usize) -> Option<(Self, Self)>;
}

/// The chunks of a shared slice, each taken at its index from the start of the slice (so the
/// optimizer sees where every load comes from, and vectorizes the kernels' loops).
#[derive(Debug)]
pub(crate) struct Chunks<'a, T> {
    slice: &'a [T],
    len: usize,
    at: usize,
}

impl<T> Clone for Chunks<'_, T> {
    fn clone(&self) -> Self {
        Chunks { ..*self }
    }
}

impl<'a, T> Iterator for Chunks<'a, T> {
    type Item = &'a [T];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [T]> {
        let end = self.at.checked_add(self.len)?;
        let chunk = self.slice.get(self.at..end)?;
        self.at = end;
        Some(chunk)
    }

    /// Skips `n` chunks at once.
    #[inline(always)]
    fn nth(&mut self, n: usize) -> Option<&'a [T]> {
        self.at = self.len.checked_mul(n)?.checked_add(self.at)?;
        self.next()
    }
}

/// The chunks of a mutable slice, each taken at its index from the start of the slice, as
/// for [`Chunks`] (splitting them off the front one by one hides from the optimizer that the
/// kernels' stores do not alias their loads, and their loops no longer vectorize).
#[derive(Debug)]
pub(crate) struct ChunksMut<'a, T> {
    start: *mut T,
    slice_len: usize,
    len: usize,
    at: usize,
    borrow: PhantomData<&'a mut [T]>,
}

impl<'a, T> Iterator for ChunksMut<'a, T> {
    type Item = &'a mut [T];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a mut [T]> {
        let end = self.at.checked_add(self.len)?;
        if end > self.slice_len {
            return None;
        }
        // SAFETY: `at..end` lies within the slice, which this iterator borrows mutably for
        // `'a`; every chunk handed out starts where the one before ended, so no two overlap
        // (chunks of zero length cover no element).
        let chunk = unsafe { core::slice::from_raw_parts_mut(self.start.add(self.at), self.len) };
        self.at = end;
        Some(chunk)
    }
}

impl<'a, T> Split for &'a [T] {
    type Chunks = Chunks<'a, T>;

    #[inline(always)]
    fn chunks_of(self, len: usize) -> Self::Chunks {
        Chunks {
            slice: self,
            len,
            at: 0,
        }
    }

    #[inline(always)]
    fn split(self, at: usize) -> Option<(Self, Self)> {
        self.split_at_checked(at)
    }
}

impl<'a, T> Split for &'a mut [T] {
    type Chunks = ChunksMut<'a, T>;

    #[inline(always)]
    fn chunks_of(self, len: usize) -> Self::Chunks {
        ChunksMut {
            start: self.as_mut_ptr(),
            slice_len: self.len(),
            len,
            at: 0,
            borrow: PhantomData,
        }
    }

    #[inline(always)]
    fn split(self, at: usize) -> Option<(Self, Self)> {
        self.split_at_mut_checked(at)
    }
}

/// The consecutive `len`-element chunks of `s`, as `chunks_exact` gives them (a shorter
/// remainder is left out), but built from checked slicing, so there is no panic path even
/// where the optimizer cannot see that `len` is nonzero.
///
/// A zero `len` gives endless empty chunks: an input image of zero height or width still has
/// its channels, each of them an empty plane. Zip such an iterator with one over a buffer
/// whose chunks are never empty (the output's, the weights').
#[inline(always)]
pub(crate) fn chunks<S: Split>(s: S, len: usize) -> S::Chunks {
    s.chunks_of(len)
}

/// `s` after its first `start` elements: empty if it is shorter, which the matrix views built
/// on it then refuse as too short (an error, never a panic).
#[inline(always)]
pub(crate) fn after<S: Split>(s: S, start: usize) -> S {
    s.split(start).map(|(_, rest)| rest).unwrap_or_default()
}

/// Chunk `i` of the consecutive `len`-element chunks of `s`, or an empty slice if `s` has no
/// such chunk.
#[inline(always)]
pub(crate) fn nth_chunk<S: Split>(s: S, i: usize, len: usize) -> S {
    after(s, i.saturating_mul(len))
        .split(len)
        .map(|(chunk, _)| chunk)
        .unwrap_or_default()
}

/// `a.zip(b)`, less one thing: `zip` sizes a `ChunksExact` by dividing by its chunk length,
/// and where `zip` is not inlined (opt-level s and z on a Cortex-M) that division by a
/// number the optimizer cannot see is nonzero keeps a panic path.
#[inline(always)]
pub(crate) fn pairs<A: Iterator, B: Iterator>(
    mut a: A,
    mut b: B,
) -> impl Iterator<Item = (A::Item, B::Item)> {
    core::iter::from_fn(move || Some((a.next()?, b.next()?)))
}
