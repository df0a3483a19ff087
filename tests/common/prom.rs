//! A strict parser of the Prometheus text exposition format (0.0.4), for asserting on a
//! `/metrics` page: every line must be a `# HELP`, a `# TYPE` or a well-formed sample, a
//! family is typed before its samples and at most once, a series appears once, and each
//! histogram is consistent (cumulative buckets ending in `+Inf`, `_count` equal to the
//! `+Inf` bucket, a `_sum`).

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample line: metric name (with `_bucket`/`_sum`/`_count` suffix), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed page: the declared type of each family and every sample, in page order.
#[derive(Debug, Default)]
pub struct Page {
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Page {
    /// Parses `text`; `Err` names the offending line.
    pub fn parse(text: &str) -> Result<Page, String> {
        let mut page = Page::default();
        let mut seen_series = HashSet::new();
        let mut sampled_families = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let fail = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        check_metric_name(name).map_err(|e| fail(&e))?;
                        let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                        if !kinds.contains(&kind) {
                            return Err(fail("unknown metric type"));
                        }
                        if sampled_families.contains(name) {
                            return Err(fail("TYPE after the family's samples"));
                        }
                        if page.types.insert(name.into(), kind.into()).is_some() {
                            return Err(fail("second TYPE for one family"));
                        }
                    }
                    (Some("HELP"), Some(name), _) => {
                        check_metric_name(name).map_err(|e| fail(&e))?
                    }
                    (Some("TYPE" | "HELP"), _, _) => return Err(fail("incomplete TYPE/HELP")),
                    _ => {} // other comments are allowed
                }
                continue;
            }
            let sample = parse_sample(line).map_err(|e| fail(&e))?;
            sampled_families.insert(page.family_of(&sample.name).to_owned());
            if !seen_series.insert(format!("{}{:?}", sample.name, sample.labels)) {
                return Err(fail("duplicate series"));
            }
            page.samples.push(sample);
        }
        page.check_histograms()?;
        Ok(page)
    }

    /// The family a sample belongs to: `x_bucket`/`x_sum`/`x_count` of a typed histogram or
    /// summary `x`, else the sample's own name.
    fn family_of<'a>(&self, name: &'a str) -> &'a str {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return base;
            }
        }
        name
    }

    fn check_histograms(&self) -> Result<(), String> {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let bucket_name = format!("{family}_bucket");
            // Group the buckets by their labels less `le`.
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self.samples.iter().filter(|s| s.name == bucket_name) {
                let le = s
                    .labels
                    .get("le")
                    .ok_or_else(|| format!("{family}: a bucket without `le`"))?;
                let le = parse_value(le).map_err(|e| format!("{family}: le {e}"))?;
                let mut rest = s.labels.clone();
                rest.remove("le");
                series
                    .entry(format!("{rest:?}"))
                    .or_default()
                    .push((le, s.value));
            }
            for (labels, buckets) in series {
                let mut last = (f64::NEG_INFINITY, 0.0);
                for &(le, count) in &buckets {
                    if le <= last.0 || count < last.1 {
                        return Err(format!(
                            "{family}{labels}: buckets not ascending/cumulative"
                        ));
                    }
                    last = (le, count);
                }
                if last.0 != f64::INFINITY {
                    return Err(format!("{family}{labels}: no +Inf bucket"));
                }
                let count = self
                    .samples
                    .iter()
                    .find(|s| {
                        s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels
                    })
                    .ok_or_else(|| format!("{family}{labels}: no _count"))?;
                if count.value != last.1 {
                    return Err(format!("{family}{labels}: _count != +Inf bucket"));
                }
                if !self.samples.iter().any(|s| {
                    s.name == format!("{family}_sum") && format!("{:?}", s.labels) == labels
                }) {
                    return Err(format!("{family}{labels}: no _sum"));
                }
            }
        }
        Ok(())
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the values of [`matching`](Self::matching) samples (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The value of the one series `name{labels}` (panics when absent or ambiguous).
    pub fn one(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<_> = self.matching(name, labels).collect();
        assert_eq!(found.len(), 1, "series {name}{labels:?}: {found:?}");
        found[0].value
    }

    /// The declared type of family `name`.
    pub fn kind(&self, name: &str) -> Option<&str> {
        self.types.get(name).map(String::as_str)
    }
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("bad label name {name:?}"))
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value {text:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample needs a value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut pos = 0;
        loop {
            // `}` closes the set (also after a trailing comma); else `name="value"`.
            if let Some(after) = inner[pos..].strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner[pos..].find('=').ok_or("a label without '='")? + pos;
            let label = &inner[pos..eq];
            check_label_name(label)?;
            if !inner[eq + 1..].starts_with('"') {
                return Err("a label value must be quoted".into());
            }
            let mut value = String::new();
            let mut end = None;
            let mut escaped = false;
            for (i, c) in inner[eq + 2..].char_indices() {
                match (escaped, c) {
                    (true, '\\') => value.push('\\'),
                    (true, '"') => value.push('"'),
                    (true, 'n') => value.push('\n'),
                    (true, _) => return Err(format!("bad escape \\{c}")),
                    (false, '\\') => {
                        escaped = true;
                        continue;
                    }
                    (false, '"') => {
                        end = Some(eq + 2 + i);
                        break;
                    }
                    (false, c) => value.push(c),
                }
                escaped = false;
            }
            let end = end.ok_or("unterminated label value")?;
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            pos = end + 1;
            if inner[pos..].starts_with(',') {
                pos += 1;
            } else if !inner[pos..].starts_with('}') {
                return Err("expected ',' or '}' after a label".into());
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("one space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().ok_or("no value")?)?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text after the sample".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}
