//! Fault injection: per company, set at runtime, so teams can rehearse how
//! their provisioning copes with Teamtailor being slow or failing. Plans are
//! stored in the database (every instance applies them) and cached briefly.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::storage::{Database, Store, StoreError};

/// How long an instance trusts its cached plan before reading it again.
const CACHE_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Added before every request is handled.
    pub latency_ms: u64,
    /// Fraction of requests answered 429 with `Retry-After`.
    pub rate_limited: f64,
    /// The `Retry-After` of those answers, in seconds.
    pub retry_after_seconds: u64,
    /// Fraction of requests answered 500.
    pub server_error: f64,
    /// Fraction of requests answered 503.
    pub unavailable: f64,
}

/// What an injected fault does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    RateLimited { retry_after_seconds: u64 },
    ServerError,
    Unavailable,
}

impl FaultPlan {
    pub fn validate(&self) -> Result<(), String> {
        for (name, fraction) in [
            ("rate_limited", self.rate_limited),
            ("server_error", self.server_error),
            ("unavailable", self.unavailable),
        ] {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(format!("{name} is a fraction of requests, from 0 to 1"));
            }
        }
        if self.rate_limited + self.server_error + self.unavailable > 1.0 + f64::EPSILON {
            return Err("rate_limited + server_error + unavailable must not exceed 1".into());
        }
        if self.latency_ms > 60_000 {
            return Err("latency_ms is at most 60000".into());
        }
        if self.retry_after_seconds > 3600 {
            return Err("retry_after_seconds is at most 3600".into());
        }
        Ok(())
    }

    pub fn is_off(&self) -> bool {
        self.latency_ms == 0
            && self.rate_limited == 0.0
            && self.server_error == 0.0
            && self.unavailable == 0.0
    }

    /// Draws the fault for one request, if any.
    pub fn draw(&self, roll: f64) -> Option<Fault> {
        if roll < self.rate_limited {
            Some(Fault::RateLimited {
                retry_after_seconds: self.retry_after_seconds.max(1),
            })
        } else if roll < self.rate_limited + self.server_error {
            Some(Fault::ServerError)
        } else if roll < self.rate_limited + self.server_error + self.unavailable {
            Some(Fault::Unavailable)
        } else {
            None
        }
    }
}

type Cached = (Instant, Option<Arc<FaultPlan>>);

pub struct Faults {
    store: Arc<Database>,
    cache: RwLock<HashMap<i64, Cached>>,
}

impl Faults {
    pub fn new(store: Arc<Database>) -> Self {
        Faults {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The company's plan; `None` when faults are off (the usual case).
    pub async fn plan(&self, company_id: i64) -> Option<Arc<FaultPlan>> {
        if let Some((at, plan)) = self.cache.read().expect("fault cache").get(&company_id) {
            if at.elapsed() < CACHE_FOR {
                return plan.clone();
            }
        }
        let plan = match self.store.company_faults(company_id).await {
            Ok(stored) => stored
                .and_then(|json| serde_json::from_str::<FaultPlan>(&json).ok())
                .filter(|plan| !plan.is_off())
                .map(Arc::new),
            Err(error) => {
                tracing::warn!(%error, "could not read the fault plan; serving without faults");
                None
            }
        };
        self.remember(company_id, plan.clone());
        plan
    }

    /// Sets (or with `None` clears) a company's plan.
    pub async fn set(&self, company_id: i64, plan: Option<FaultPlan>) -> Result<(), StoreError> {
        let plan = plan.filter(|p| !p.is_off());
        let json = plan
            .as_ref()
            .map(|p| serde_json::to_string(p).expect("a plan serialises"));
        self.store
            .set_company_faults(company_id, json.as_deref())
            .await?;
        self.remember(company_id, plan.map(Arc::new));
        Ok(())
    }

    fn remember(&self, company_id: i64, plan: Option<Arc<FaultPlan>>) {
        self.cache
            .write()
            .expect("fault cache")
            .insert(company_id, (Instant::now(), plan));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_fractions_in_order() {
        let plan = FaultPlan {
            rate_limited: 0.1,
            server_error: 0.2,
            unavailable: 0.3,
            ..Default::default()
        };
        assert_eq!(
            plan.draw(0.05),
            Some(Fault::RateLimited {
                retry_after_seconds: 1
            })
        );
        assert_eq!(plan.draw(0.25), Some(Fault::ServerError));
        assert_eq!(plan.draw(0.55), Some(Fault::Unavailable));
        assert_eq!(plan.draw(0.65), None);
    }

    #[test]
    fn fractions_are_checked() {
        let too_much = FaultPlan {
            rate_limited: 0.6,
            unavailable: 0.6,
            ..Default::default()
        };
        assert!(too_much.validate().is_err());
        assert!(FaultPlan {
            server_error: -0.1,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(FaultPlan {
            server_error: 1.0,
            ..Default::default()
        }
        .validate()
        .is_ok());
    }
}
