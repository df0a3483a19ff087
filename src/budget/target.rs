//! A resource as the load sees it: the spec's field rules (types, bounds, enums) and
//! the generator model's view of which fields the API accepts on create and update.

use indexmap::IndexMap;

use crate::model::Model;
use crate::spec::{Resource, Spec};

/// One resource of the spec, ready for body generation.
#[derive(Debug, Clone)]
pub struct Target {
    /// Spec key, also the route's path segment (`/{key}`).
    pub key: String,
    pub res: Resource,
    /// Fields a create body may carry (server-set ones excluded), in spec order.
    pub create_fields: Vec<String>,
    /// Fields a PATCH body may carry.
    pub update_fields: Vec<String>,
}

/// Every resource of the spec, keyed by its spec key.
pub fn targets(spec: &Spec) -> IndexMap<String, Target> {
    let model = Model::from_spec(spec);
    spec.resources
        .iter()
        .map(|(key, res)| {
            let fields = model
                .resource(key)
                .map(|m| m.fields.as_slice())
                .unwrap_or_default();
            let names = |keep: fn(&crate::model::FieldModel) -> bool| {
                fields
                    .iter()
                    .filter(|f| keep(f))
                    .map(|f| f.name.clone())
                    .collect()
            };
            // An owned resource's owner field is left out: the API fills it from the
            // caller (budget's token), and any other value would be refused.
            let owner = model
                .resource(key)
                .and_then(|m| m.access.as_ref()?.owner.clone());
            let not_owner = |names: Vec<String>| -> Vec<String> {
                names
                    .into_iter()
                    .filter(|n| Some(n) != owner.as_ref())
                    .collect()
            };
            let target = Target {
                key: key.clone(),
                res: res.clone(),
                create_fields: not_owner(names(|f| f.in_create)),
                update_fields: not_owner(names(|f| f.in_update)),
            };
            (key.clone(), target)
        })
        .collect()
}
