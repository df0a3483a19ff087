//! What the generated `tests/api.rs` sends: request bodies built from the fields' sample
//! values, in an order where every referenced row exists first.

use std::collections::HashSet;

use crate::model::{FieldKind, Model, ResourceModel};

/// The test steps of one resource.
pub struct TestResource<'a> {
    pub r: &'a ResourceModel,
    /// The `json!` body of a valid create (refs point at rows created before), when the
    /// resource and every resource it refers to can be created.
    pub create_body: Option<String>,
    /// Read-only fields, each refused in `readonly_body`.
    pub readonly: Vec<String>,
    pub readonly_body: String,
    /// A field and a new value for PATCH.
    pub patch: Option<(String, String)>,
    /// A well-formed key of no row.
    pub missing_key: String,
    /// A malformed key (none when any text is a valid key).
    pub bad_key: Option<String>,
}

pub fn tests(m: &Model) -> Vec<TestResource<'_>> {
    let mut created: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for r in m.creation_order() {
        let creatable = r.ops.create
            && r.fields
                .iter()
                .filter_map(|f| f.ref_to.as_deref())
                .all(|t| created.contains(t));
        let entries: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.in_create)
            .map(|f| match &f.ref_to {
                Some(t) => format!("\"{}\": ids[\"{t}\"].clone()", f.name),
                None => format!("\"{}\": {}", f.name, f.sample),
            })
            .collect();
        let readonly: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.readonly)
            .map(|f| f.name.clone())
            .collect();
        let readonly_entries: Vec<String> = r
            .fields
            .iter()
            .filter(|f| f.readonly)
            .map(|f| format!("\"{}\": {}", f.name, f.sample))
            .chain(entries.iter().cloned())
            .collect();
        if creatable {
            created.insert(&r.key);
        }
        let patch = if r.ops.update {
            r.fields
                .iter()
                .find(|f| f.in_update && f.ref_to.is_none())
                .map(|f| (f.name.clone(), f.sample_alt.clone()))
        } else {
            None
        };
        let (missing_key, bad_key) = match r.pk.kind {
            FieldKind::Int | FieldKind::Bigint | FieldKind::Serial | FieldKind::Bigserial => {
                ("999999999".to_string(), Some("not-a-number".to_string()))
            }
            FieldKind::Uuid => (
                "00000000-0000-4000-8000-000000000000".to_string(),
                Some("not-a-uuid".to_string()),
            ),
            FieldKind::String | FieldKind::Text => ("no-such-key".to_string(), None),
            _ => ("no-such-key".to_string(), Some("%00".to_string())),
        };
        out.push(TestResource {
            r,
            create_body: creatable.then(|| format!("{{ {} }}", entries.join(", "))),
            readonly,
            readonly_body: format!("{{ {} }}", readonly_entries.join(", ")),
            patch,
            missing_key,
            bad_key,
        });
    }
    out
}
