//! Repeated authentication failures from one address are rate limited: past
//! the budget, every attempt from that address is refused (429) for a while,
//! whether or not its credential is right, so guessing gains nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// 20 failures, then one more every 3 seconds.
const BURST: u32 = 20;
const REFILL: Duration = Duration::from_secs(3);

pub struct FailureLimiter {
    limiter: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        let quota = Quota::with_period(REFILL)
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(BURST).expect("non-zero burst"));
        FailureLimiter {
            limiter: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }
}

impl FailureLimiter {
    /// Seconds the address must wait, if it is blocked.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<u64> {
        let mut blocked = self.blocked.lock().expect("failure limiter lock");
        let until = *blocked.get(&ip)?;
        let now = Instant::now();
        if until <= now {
            blocked.remove(&ip);
            return None;
        }
        Some((until - now).as_secs().max(1))
    }

    /// Counts a failure; returns the wait when this one crossed the budget.
    pub fn record_failure(&self, ip: IpAddr) -> Option<u64> {
        let Err(not_until) = self.limiter.check_key(&ip) else {
            return None;
        };
        let wait = not_until.wait_time_from(self.clock.now()).max(REFILL);
        let mut blocked = self.blocked.lock().expect("failure limiter lock");
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        blocked.insert(ip, now + wait);
        Some(wait.as_secs().max(1))
    }
}
