//! `apiforge explain`: EXPLAIN every query shape the generated API runs and flag
//! filters and sorts that no index serves (see docs/explain.md for the method).

pub mod db;
pub mod plan;
pub mod report;
pub mod shape;
pub mod source;

pub use report::Finding;

/// EXPLAIN every shape on one connection, in order; `on_shape(i)` is called as shape `i`
/// (from 0) starts, for progress reports.
pub async fn run(
    database_url: &str,
    shapes: Vec<shape::Shape>,
    analyze: bool,
    mut on_shape: impl FnMut(usize),
) -> anyhow::Result<Vec<Finding>> {
    let mut conn = db::connect(database_url).await?;
    let mut findings = Vec::with_capacity(shapes.len());
    for shape in shapes {
        on_shape(findings.len());
        let plan = db::explain(&mut conn, &shape, analyze).await;
        findings.push(Finding { shape, plan });
    }
    Ok(findings)
}
