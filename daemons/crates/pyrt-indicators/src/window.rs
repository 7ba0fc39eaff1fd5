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

    /// Appends `value`; returns the value that fell out when the window was already full.
    #[inline]
    pub(crate) fn push(&mut self, value: f64) -> Option<f64> {
        let capacity = self.values.len();
        if self.len < capacity {
            self.values[(self.head + self.len) % capacity] = value;
            self.len += 1;
            None
        } else {
            let old = std::mem::replace(&mut self.values[self.head], value);
            self.head = (self.head + 1) % capacity;
            Some(old)
        }
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
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let capacity = self.values.len();
        (0..self.len).map(move |i| self.values[(self.head + i) % capacity])
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
