//! A fixed-capacity ring of the last `n` values; allocates only when created.

#[derive(Debug, Clone)]
pub(crate) struct Window {
    values: Vec<f64>,
    head: usize,
    len: usize,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            values: vec![0.0; capacity.max(1)],
            head: 0,
            len: 0,
        }
    }

    /// `head + offset` wrapped into the ring; a compare instead of a division, since this runs
    /// for every observation of every indicator.
    #[inline]
    fn slot(&self, offset: usize) -> usize {
        let i = self.head + offset;
        if i >= self.values.len() {
            i - self.values.len()
        } else {
            i
        }
    }

    /// Appends `value`; returns the value that fell out when the window was already full.
    #[inline]
    pub(crate) fn push(&mut self, value: f64) -> Option<f64> {
        if self.len < self.values.len() {
            let i = self.slot(self.len);
            self.values[i] = value;
            self.len += 1;
            None
        } else {
            let old = std::mem::replace(&mut self.values[self.head], value);
            self.head = self.slot(1);
            Some(old)
        }
    }

    /// The oldest value, if any.
    #[inline]
    pub(crate) fn oldest(&self) -> Option<f64> {
        (self.len > 0).then(|| self.values[self.head])
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.values.len()
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + Clone + '_ {
        (0..self.len).map(move |i| self.values[self.slot(i)])
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n_oldest_first() {
        let mut w = Window::new(3);
        assert_eq!(w.push(1.0), None);
        assert_eq!(w.push(2.0), None);
        assert!(!w.is_full());
        assert_eq!(w.push(3.0), None);
        assert_eq!(w.push(4.0), Some(1.0));
        assert_eq!(w.iter().collect::<Vec<_>>(), [2.0, 3.0, 4.0]);
        w.clear();
        assert_eq!(w.len(), 0);
    }
}
