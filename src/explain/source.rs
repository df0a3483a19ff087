//! The shapes come from the generator's model (`Model::query_shapes()`), so `explain`
//! checks exactly the SQL the generated API runs. This adds what the plan check needs:
//! which filters a shape sets and which column it sorts by.

use super::shape::{Filter, Param, Shape};
use crate::model::{Model, QueryShape, ResourceModel};
use crate::spec::Spec;

/// Every query shape of the spec, in the model's order.
pub fn shapes(spec: &Spec) -> Vec<Shape> {
    let model = Model::from_spec(spec);
    model
        .query_shapes()
        .into_iter()
        .filter_map(|q| {
            // Shape names start with the resource key: `products.list?category`.
            let key = q.name.split(['.', '?']).next()?;
            let res = model.resource(key)?;
            Some(annotate(res, q))
        })
        .collect()
}

fn annotate(res: &ResourceModel, q: QueryShape) -> Shape {
    let filters = q
        .params
        .iter()
        .filter(|p| p.sample.is_some())
        .filter_map(|p| res.filters.iter().find(|f| f.param == p.name))
        .map(|f| Filter {
            column: f.field.clone(),
            equality: f.op == "=",
        })
        .collect();
    Shape {
        resource: res.key.clone(),
        sort: sort_of(res, &q.name),
        name: q.name,
        sql: q.sql,
        params: q
            .params
            .into_iter()
            .map(|p| Param {
                name: p.name,
                cast: p.cast,
                sample: p.sample,
            })
            .collect(),
        filters,
    }
}

/// The sort column of a list shape: `products.list.-price[.after]` sorts by `price`,
/// `products.list?category` by the default sort; other shapes have none.
fn sort_of(res: &ResourceModel, name: &str) -> Option<String> {
    let rest = name.strip_prefix(&res.key)?;
    let sort = if rest.starts_with(".list?") {
        res.default_sort.as_str()
    } else {
        let key = rest.strip_prefix(".list.")?;
        key.strip_suffix(".after").unwrap_or(key)
    };
    Some(sort.trim_start_matches('-').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_products_shapes() {
        let spec: Spec = serde_yaml::from_str(include_str!("../../examples/shop.yaml")).unwrap();
        let all = shapes(&spec);
        let get = |name: &str| {
            all.iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no shape {name}"))
        };
        assert_eq!(get("products.get").sort, None);
        assert!(!get("products.get").needs_index());
        assert_eq!(
            get("products.list.-created_at").sort.as_deref(),
            Some("created_at")
        );
        assert_eq!(
            get("products.list.-price.after").sort.as_deref(),
            Some("price")
        );
        let cat = get("products.list?category");
        assert_eq!(cat.resource, "products");
        assert_eq!(cat.suggested_index(), ["category", "created_at"]);
        let min = get("products.list?price_min");
        assert_eq!(
            min.filters,
            [Filter {
                column: "price".into(),
                equality: false
            }]
        );
        assert_eq!(min.suggested_index(), ["price"]);
        assert!(get("products.list.-created_at").filters.is_empty());
    }
}
