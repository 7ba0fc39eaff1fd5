//! How a consumer waits out a producer that is gone.
//!
//! Once a reader has drained a ring whose producer died, every read answers
//! [`RingError::ProducerDead`](crate::RingError::ProducerDead) at once, so a loop that simply reads
//! again spins a core for as long as the producer stays dead. Supervisord restarts a daemon with
//! growing back-off, which can take seconds; the consumer sleeps meanwhile, a little longer each
//! round so a quick restart is still noticed within a millisecond or two, and a long outage costs
//! about ten wake-ups a second.

use std::time::Duration;

/// Sleeps between reads of a ring whose producer is dead: 1 ms, doubling to 100 ms, from 1 ms
/// again once the producer is back. One per ring a loop waits on.
#[derive(Debug, Clone, Default)]
pub struct DeadProducerBackoff {
    /// The next pause; zero while the producer is alive.
    next: Duration,
}

impl DeadProducerBackoff {
    pub const FIRST: Duration = Duration::from_millis(1);
    pub const LONGEST: Duration = Duration::from_millis(100);

    #[must_use]
    pub const fn new() -> Self {
        Self {
            next: Duration::ZERO,
        }
    }

    /// Whether the last read found the producer dead and none has succeeded since.
    #[must_use]
    #[inline]
    pub const fn waiting(&self) -> bool {
        !self.next.is_zero()
    }

    /// The pause after one more `ProducerDead`, and the one after it.
    #[must_use]
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next.max(Self::FIRST);
        self.next = pause.saturating_mul(2).min(Self::LONGEST);
        pause
    }

    /// Sleeps the next pause, cut to `at_most` so the caller's heartbeat is never late, and
    /// returns the milliseconds slept (for a counter of time spent without a producer).
    pub fn wait(&mut self, at_most: Duration) -> u64 {
        let pause = self.next_pause().min(at_most);
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
        u64::try_from(pause.as_millis()).unwrap_or(u64::MAX)
    }

    /// A read succeeded: the producer is back (or never left), so a later outage starts again from
    /// the shortest pause. Returns whether it had been waiting, so the caller can report the
    /// recovery once.
    #[inline]
    pub fn reset(&mut self) -> bool {
        let was_waiting = self.waiting();
        self.next = Duration::ZERO;
        was_waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pauses_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut backoff = DeadProducerBackoff::new();
        assert!(!backoff.waiting());
        assert!(!backoff.reset(), "nothing to recover from");
        let schedule: Vec<Duration> = (0..10).map(|_| backoff.next_pause()).collect();
        assert_eq!(
            schedule,
            [1, 2, 4, 8, 16, 32, 64, 100, 100, 100].map(ms),
            "bounded exponential back-off"
        );
        assert!(backoff.waiting());
        assert!(backoff.reset(), "the recovery is reported once");
        assert!(!backoff.waiting());
        assert!(!backoff.reset());
        assert_eq!(
            backoff.next_pause(),
            ms(1),
            "a new outage starts short again"
        );
        assert_eq!(backoff.next_pause(), ms(2));
    }

    #[test]
    fn a_wait_never_outlasts_the_callers_deadline() {
        let mut backoff = DeadProducerBackoff::new();
        for _ in 0..8 {
            let _ = backoff.next_pause();
        }
        assert_eq!(
            backoff.wait(Duration::ZERO),
            0,
            "a heartbeat is due: no sleep"
        );
        assert_eq!(
            backoff.wait(ms(3)),
            3,
            "cut to the deadline, not the full 100 ms"
        );
        assert!(backoff.waiting(), "a capped wait still counts as waiting");
    }
}
