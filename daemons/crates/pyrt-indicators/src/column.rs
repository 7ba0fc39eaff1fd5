//! Where the batch kernels write: each output slot once, front to back, into fresh memory.
//!
//! Zeroing an output before computing it doubles the stores of a memory-bound kernel, and on
//! long series the page faults of a fresh buffer can cost more than the indicator (numpy asks
//! for huge pages on large arrays; a `Vec` gets 4 KiB ones). So the kernels write into memory
//! nobody has initialised — a vector's spare capacity, or a new numpy array — through a
//! [`Column`] that counts the writes, and the owner relies on the count, not on the kernel.
//!
//! Each indicator's `batch_into` is `#[inline(never)]`: one copy serves the `Vec` and the numpy
//! callers, and inlined into a PyO3 wrapper its loop state spilled to the stack.

use std::mem::MaybeUninit;

use crate::IndicatorError;

/// An output column being written by a batch kernel, front to back.
#[derive(Debug)]
pub(crate) struct Column<'a> {
    slots: &'a mut [MaybeUninit<f64>],
    written: usize,
}

impl<'a> Column<'a> {
    pub(crate) fn new(slots: &'a mut [MaybeUninit<f64>]) -> Self {
        Self { slots, written: 0 }
    }

    /// The number of slots, written or not.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Writes the next slot (panics past the end).
    #[inline]
    pub(crate) fn push(&mut self, value: f64) {
        self.slots[self.written].write(value);
        self.written += 1;
    }

    /// Writes the next `count` slots with `value` (panics past the end).
    #[inline]
    pub(crate) fn push_n(&mut self, value: f64, count: usize) {
        self.slots[self.written..self.written + count].fill(MaybeUninit::new(value));
        self.written += count;
    }

    /// TA-Lib's warm-up: `NaN` for the first `lookback` of `n` outputs. Returns whether any input
    /// is left after them; when none is, the whole (short) column is `NaN`.
    pub(crate) fn warm_up(&mut self, n: usize, lookback: usize) -> bool {
        self.push_n(f64::NAN, n.min(lookback));
        n > lookback
    }

    /// A writer for this column's remaining slots.
    pub(crate) fn rows(&mut self) -> Rows<'_, 1> {
        Rows::new(std::array::from_mut(self))
    }

    /// The values written so far.
    pub(crate) fn written(&self) -> &[f64] {
        // SAFETY: the first `written` slots have each been written (counted), and
        // `MaybeUninit<f64>` has the layout of `f64`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<f64>(), self.written) }
    }

    /// Counts every slot as unwritten again, to reuse the column after using it as scratch.
    pub(crate) fn clear(&mut self) {
        self.written = 0;
    }

    /// Whether every slot has been written.
    pub(crate) fn is_complete(&self) -> bool {
        self.written == self.slots.len()
    }
}

/// Writes rows across `K` columns in lockstep from a kernel's own loop: the position stays in a
/// register (a [`Column::push`] stores its count each time, in case a panic observes it), and
/// each column's count grows once, when the writer is dropped.
pub(crate) struct Rows<'c, const K: usize> {
    /// Each column's unwritten slots, as many as the fullest column has left, and its count.
    columns: [(&'c mut [MaybeUninit<f64>], &'c mut usize); K],
    room: usize,
    next: usize,
}

impl<'c, const K: usize> Rows<'c, K> {
    /// From each column's next unwritten slot.
    pub(crate) fn new(columns: &'c mut [Column<'_>; K]) -> Self {
        let room = columns
            .iter()
            .map(|c| c.slots.len() - c.written)
            .min()
            .unwrap_or(0);
        let columns = columns.each_mut().map(|c| {
            let Column { slots, written } = c;
            (&mut slots[*written..*written + room], written)
        });
        Self {
            columns,
            room,
            next: 0,
        }
    }

    /// Writes the next slot of every column (panics past the end of one). One bounds check:
    /// every column's slice is `room` long.
    #[inline]
    pub(crate) fn push(&mut self, row: [f64; K]) {
        assert!(self.next < self.room, "a row past the end of its columns");
        for ((slots, _), value) in self.columns.iter_mut().zip(row) {
            slots[self.next].write(value);
        }
        self.next += 1;
    }
}

impl<const K: usize> Drop for Rows<'_, K> {
    fn drop(&mut self) {
        for (_, count) in &mut self.columns {
            **count += self.next;
        }
    }
}

/// Runs `kernel` over `K` columns of `n` slots in fresh vectors, never zeroed.
pub(crate) fn collect<const K: usize>(
    n: usize,
    kernel: impl FnOnce(&mut [Column<'_>; K]) -> Result<(), IndicatorError>,
) -> Result<[Vec<f64>; K], IndicatorError> {
    let mut vectors: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(n));
    {
        let mut columns = vectors
            .each_mut()
            .map(|v| Column::new(&mut v.spare_capacity_mut()[..n]));
        kernel(&mut columns)?;
        assert!(
            columns.iter().all(Column::is_complete),
            "a batch kernel left output slots unwritten"
        );
    }
    for v in &mut vectors {
        // SAFETY: the capacity is at least `n`, and the column over the first `n` slots counted
        // `n` writes, each to the slot after the previous one: all `n` are initialised.
        unsafe { v.set_len(n) };
    }
    Ok(vectors)
}

/// Checks that every column is as long as the input.
pub(crate) fn check_columns(columns: &[Column<'_>], n: usize) -> Result<(), IndicatorError> {
    match columns.iter().find(|c| c.len() != n) {
        Some(c) => Err(IndicatorError::LengthMismatch(n, c.len())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_written_front_to_back_and_counted() {
        let [first, second] = collect(4, |[first, second]| {
            first.push_n(f64::NAN, 2);
            first.push(1.0);
            first.push(2.0);
            second.push_n(3.0, 4);
            Ok(())
        })
        .unwrap();
        assert!(first[0].is_nan() && first[1].is_nan());
        assert_eq!((&first[2..], second), (&[1.0, 2.0][..], vec![3.0; 4]));
        let [left, right] = collect(3, |out| {
            out[0].push(0.5);
            out[1].push(1.5);
            let mut rows = Rows::new(out);
            rows.push([1.0, 2.0]);
            rows.push([3.0, 4.0]);
            Ok(())
        })
        .unwrap();
        assert_eq!((left, right), (vec![0.5, 1.0, 3.0], vec![1.5, 2.0, 4.0]));
        let [scratch] = collect(2, |[scratch]| {
            scratch.push(7.0);
            assert_eq!(scratch.written(), [7.0]);
            scratch.clear();
            scratch.push_n(8.0, 2);
            assert_eq!(scratch.written(), [8.0, 8.0]);
            Ok(())
        })
        .unwrap();
        assert_eq!(scratch, [8.0, 8.0]);
        let err = collect(3, |[_]: &mut [Column<'_>; 1]| {
            Err(IndicatorError::LengthMismatch(3, 2))
        });
        assert_eq!(err.unwrap_err(), IndicatorError::LengthMismatch(3, 2));
    }

    #[test]
    #[should_panic(expected = "left output slots unwritten")]
    fn an_incomplete_column_is_never_handed_out() {
        let _ = collect(3, |[a]| {
            a.push(1.0);
            Ok(())
        });
    }

    #[test]
    #[should_panic(expected = "a row past the end")]
    fn rows_cannot_overflow() {
        let _ = collect(1, |out: &mut [Column<'_>; 2]| {
            let mut rows = Rows::new(out);
            rows.push([1.0, 2.0]);
            rows.push([3.0, 4.0]);
            Ok(())
        });
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_column_cannot_overflow() {
        let _ = collect(1, |[a]| {
            a.push_n(1.0, 2);
            Ok(())
        });
    }
}
