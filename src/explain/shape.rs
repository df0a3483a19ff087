//! The query shapes to explain: one statement the generated API runs, with
//! representative parameters and what it needs from an index.

/// One statement with its parameters, as the generated API runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Spec key of the resource (`products`), used to name where an index goes.
    pub resource: String,
    /// `products.list.-created_at`, `products.list?category`, `products.get`, …
    pub name: String,
    pub sql: String,
    /// `$1`, `$2`, … in order.
    pub params: Vec<Param>,
    /// Filters that carry a value in this shape (an index should serve them).
    pub filters: Vec<Filter>,
    /// The column a list shape orders by (besides the primary key tiebreak).
    pub sort: Option<String>,
}

/// A representative value of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    /// Postgres type of the parameter (`text`, `bigint`, …).
    pub cast: String,
    /// The value as text; `None` is SQL NULL (an unused optional filter).
    pub sample: Option<String>,
}

/// A filter set in a shape: equality (`?category=x`) or a range bound (`?price_min=1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub equality: bool,
}

impl Shape {
    /// Whether this shape must find rows by a filter or return them in a sort order,
    /// i.e. whether a sequential scan means an index is missing.
    pub fn needs_index(&self) -> bool {
        !self.filters.is_empty() || self.sort.is_some()
    }

    /// The index that would serve this shape: equality columns first (they narrow
    /// to one index range), then the range column or the sort column.
    pub fn suggested_index(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        let mut push = |c: &str| {
            if !cols.iter().any(|x| x == c) {
                cols.push(c.to_owned());
            }
        };
        self.filters
            .iter()
            .filter(|f| f.equality)
            .for_each(|f| push(&f.column));
        match self.filters.iter().find(|f| !f.equality) {
            Some(range) => push(&range.column),
            None => {
                if let Some(sort) = &self.sort {
                    push(sort);
                }
            }
        }
        cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(filters: &[(&str, bool)], sort: Option<&str>) -> Shape {
        Shape {
            resource: "products".into(),
            name: "products.list".into(),
            sql: String::new(),
            params: Vec::new(),
            filters: filters
                .iter()
                .map(|(c, eq)| Filter {
                    column: (*c).into(),
                    equality: *eq,
                })
                .collect(),
            sort: sort.map(Into::into),
        }
    }

    #[test]
    fn suggestions_put_equality_first() {
        assert_eq!(
            shape(&[("category", true)], Some("created_at")).suggested_index(),
            ["category", "created_at"]
        );
        assert_eq!(
            shape(&[("price", false)], Some("created_at")).suggested_index(),
            ["price"]
        );
        assert_eq!(shape(&[], Some("sales")).suggested_index(), ["sales"]);
        assert_eq!(shape(&[("id", true)], Some("id")).suggested_index(), ["id"]);
        assert!(!shape(&[], None).needs_index());
    }
}
