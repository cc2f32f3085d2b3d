//! Flood control: a token bucket per client. A client may send `burst` lines at
//! once and `rate` lines a second after that; a line over the budget is not
//! dropped but read later, so the client's lines are delayed in order and TCP
//! pushes back on that client alone.

use std::time::Duration;

use tokio::time::Instant;

/// How fast one client's lines are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodLimit {
    /// Lines a second, over time.
    pub rate: f64,
    /// Lines at once after a quiet spell.
    pub burst: u32,
}

impl Default for FloodLimit {
    /// 5 lines a second with a burst of 20: generous for people, tight for bots
    /// that would drown a channel.
    fn default() -> Self {
        FloodLimit {
            rate: 5.0,
            burst: 20,
        }
    }
}

/// One client's bucket.
pub(crate) struct Bucket {
    limit: FloodLimit,
    tokens: f64,
    filled_at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(limit: FloodLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            filled_at: Instant::now(),
        }
    }

    /// When the next line may be read: `None` for now.
    pub(crate) fn next_line_at(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let earned = now.duration_since(self.filled_at).as_secs_f64() * self.limit.rate;
        self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        self.filled_at = now;
        if self.tokens >= 1.0 {
            None
        } else {
            let wait = (1.0 - self.tokens) / self.limit.rate;
            Some(now + Duration::from_secs_f64(wait))
        }
    }

    /// Spends one line's token.
    pub(crate) fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes lines until the bucket says wait, counting them.
    fn drain(bucket: &mut Bucket) -> (u32, Instant) {
        let mut lines = 0;
        loop {
            match bucket.next_line_at() {
                None => {
                    bucket.take();
                    lines += 1;
                }
                Some(at) => return (lines, at),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let mut bucket = Bucket::new(FloodLimit {
            rate: 5.0,
            burst: 20,
        });
        let start = Instant::now();
        let (lines, at) = drain(&mut bucket);
        assert_eq!(lines, 20);
        assert_eq!(at - start, Duration::from_millis(200));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(drain(&mut bucket).0, 5);
        // A long quiet spell refills only up to the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(drain(&mut bucket).0, 20);
    }
}
