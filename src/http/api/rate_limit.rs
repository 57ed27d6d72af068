//! Per-key request limits, announced the way Teamtailor does
//! (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset`).
//!
//! The counters live in the process: with several instances behind a load
//! balancer each enforces the limit on its own share of the traffic.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: NonZeroU32,
    pub period: Duration,
}

impl RateLimit {
    /// Teamtailor's published limit: 50 requests per 10 seconds per key.
    pub const TEAMTAILOR: RateLimit = RateLimit {
        requests: NonZeroU32::new(50).expect("non-zero"),
        period: Duration::from_secs(10),
    };
}

/// What to announce on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the budget is whole again (or, when refused, until the
    /// next request is allowed).
    pub reset_seconds: u64,
}

type KeyedLimiter = RateLimiter<
    Principal,
    DefaultKeyedStateStore<Principal>,
    DefaultClock,
    StateInformationMiddleware,
>;

pub struct ApiRateLimiter {
    limit: RateLimit,
    limiter: KeyedLimiter,
    clock: DefaultClock,
}

impl ApiRateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let replenish = limit.period / limit.requests.get();
        let quota = Quota::with_period(replenish.max(Duration::from_nanos(1)))
            .expect("a non-zero period")
            .allow_burst(limit.requests);
        ApiRateLimiter {
            limit,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
        }
    }

    pub fn check(&self, principal: Principal) -> Decision {
        let limit = self.limit.requests.get();
        let per_request = self.limit.period / limit;
        match self.limiter.check_key(&principal) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                Decision {
                    allowed: true,
                    limit,
                    remaining,
                    reset_seconds: (per_request * used).as_secs_f64().ceil() as u64,
                }
            }
            Err(not_until) => Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset_seconds: not_until
                    .wait_time_from(self.clock.now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
            },
        }
    }
}
