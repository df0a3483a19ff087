//! `apiforge budget`: load every budgeted route of a running API and compare the
//! measured p95/p99 with the spec's budgets.
//!
//! Per route: set up what it needs (existing ids, referenced rows), then run a
//! closed loop of `concurrency` workers for `duration`; see docs/budget.md.

pub mod bodies;
pub mod client;
pub mod fixtures;
pub mod load;
pub mod report;
pub mod target;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use bodies::BodyGen;
use client::Http;
use fixtures::{Fixtures, Pools, allows, create_row, id_segment};
use load::Outcome;
pub use report::RouteResult;

use crate::spec::{Operation, Spec};
use target::Target;

/// How hard and how long to load each route.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub duration: Duration,
    pub concurrency: usize,
}

/// The route an operation loads, as shown in the table.
pub fn route_label(key: &str, op: Operation) -> String {
    match op {
        Operation::List => format!("GET /{key}"),
        Operation::Get => format!("GET /{key}/{{id}}"),
        Operation::Create => format!("POST /{key}"),
        Operation::Update => format!("PATCH /{key}/{{id}}"),
        Operation::Delete => format!("DELETE /{key}/{{id}}"),
        Operation::Export => format!("GET /{key}/export"),
    }
}

/// What the workers of one route share (read-only during the load).
struct Route {
    http: Http,
    target: Target,
    op: Operation,
    pools: Pools,
    body_gen: Arc<BodyGen>,
}

/// Load every budgeted route of `spec`, one after the other; `on_route(i, route)` is called
/// as route `i` (from 0) starts, for progress reports.
pub async fn run(
    spec: &Spec,
    http: &Http,
    opts: Options,
    mut on_route: impl FnMut(usize, &str),
) -> Vec<RouteResult> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let body_gen = Arc::new(BodyGen::new(nonce));
    let targets = target::targets(spec);
    let mut fixtures = Fixtures {
        http,
        targets: &targets,
        body_gen: &body_gen,
        pools: Pools::default(),
    };
    let mut results = Vec::new();
    for (key, t) in &targets {
        for (op, budget) in t.res.budgets.iter() {
            let mut result = RouteResult {
                route: route_label(key, op),
                budget: budget.clone(),
                stats: None,
                problem: None,
            };
            on_route(results.len(), &result.route);
            match prepare(&mut fixtures, t, op).await {
                Ok(()) => {
                    let route = Arc::new(Route {
                        http: http.clone(),
                        target: t.clone(),
                        op,
                        pools: fixtures.pools.clone(),
                        body_gen: body_gen.clone(),
                    });
                    let stats = load::drive(opts.duration, opts.concurrency, move |n| {
                        let route = route.clone();
                        async move { route.once(n).await }
                    })
                    .await;
                    result.stats = Some(stats);
                }
                Err(problem) => result.problem = Some(problem),
            }
            results.push(result);
        }
    }
    results
}

/// Check the route exists and fetch or create the rows its requests need.
async fn prepare(fx: &mut Fixtures<'_>, t: &Target, op: Operation) -> Result<(), String> {
    let (key, res) = (t.key.as_str(), &t.res);
    if !allows(res, op) {
        return Err(format!(
            "`{key}` has a {} budget but no {} route",
            op.as_str(),
            op.as_str()
        ));
    }
    match op {
        Operation::List | Operation::Export => Ok(()),
        Operation::Get | Operation::Update => fx.ensure(key, 0).await,
        Operation::Create => fx.ensure_refs(key, 0).await,
        Operation::Delete if allows(res, Operation::Create) => fx.ensure_refs(key, 0).await,
        Operation::Delete => Err(format!(
            "`{key}` has no create route: `budget` only deletes rows it created itself"
        )),
    }
}

impl Route {
    /// One timed request of this route's operation (the `n`-th overall).
    async fn once(&self, n: u64) -> Outcome {
        let key = &self.target.key;
        let pick = || {
            let ids = self.pools.ids(key);
            id_segment(&ids[(n % ids.len() as u64) as usize])
        };
        let (method, path, body): (Method, String, Option<Value>) = match self.op {
            Operation::List => (Method::GET, format!("/{key}"), None),
            Operation::Export => (Method::GET, format!("/{key}/export"), None),
            Operation::Get => (Method::GET, format!("/{key}/{}", pick()), None),
            Operation::Create => match self.body_gen.create(&self.target, &self.pools) {
                Ok(body) => (Method::POST, format!("/{key}"), Some(body)),
                Err(why) => return Outcome::Failed { latency: None, why },
            },
            Operation::Update => match self.body_gen.update(&self.target, &self.pools) {
                Ok(body) => (Method::PATCH, format!("/{key}/{}", pick()), Some(body)),
                Err(why) => return Outcome::Failed { latency: None, why },
            },
            Operation::Delete => {
                // The row to delete is created first, outside the timed part.
                match create_row(&self.http, &self.target, &self.body_gen, &self.pools).await {
                    Ok(id) => (Method::DELETE, format!("/{key}/{}", id_segment(&id)), None),
                    Err(why) => return Outcome::Failed { latency: None, why },
                }
            }
        };
        let start = Instant::now();
        let reply = self.http.send(method.clone(), &path, body.as_ref()).await;
        let latency = start.elapsed();
        match reply {
            Ok(r) if r.status.is_success() => Outcome::Ok(latency),
            Ok(r) => Outcome::Failed {
                latency: Some(latency),
                why: format!("{method} {path} answered {}", r.describe()),
            },
            Err(err) => Outcome::Failed {
                latency: None,
                why: format!("{err:#}"),
            },
        }
    }
}
