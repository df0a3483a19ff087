//! Field selection (`?fields=id,name`): a validated subset of a resource's selectable fields.

use std::borrow::Cow;
use std::fmt;

use crate::problem::Problem;
use crate::resource::Resource;

/// A validated, de-duplicated subset of a resource's selectable fields (hidden fields are
/// never selectable), kept in the resource's declaration order so that `fields=name,id`
/// and `fields=id,name,id` select, serialize and cache alike.
///
/// ```
/// use apiforge_runtime::prelude::*;
///
/// #[derive(Resource)]
/// #[resource(table = "products")]
/// struct Product {
///     #[resource(primary_key)]
///     id: i64,
///     name: String,
///     price: f64,
///     #[resource(hidden)]
///     internal_note: Option<String>,
/// }
///
/// let fields = FieldSet::parse::<Product>("price, id,price").unwrap();
/// assert_eq!(fields.iter().collect::<Vec<_>>(), ["id", "price"]);
/// assert!(fields.contains("price") && !fields.contains("name"));
/// assert_eq!(fields.to_string(), "id,price");
/// assert_eq!(FieldSet::all::<Product>().len(), 3);
///
/// let err = FieldSet::parse::<Product>("id,internal_note").unwrap_err();
/// assert_eq!(err.to_string(), "field `internal_note` is not selectable; valid fields: id, name, price");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSet {
    table: &'static str,
    names: &'static [&'static str],
    columns: &'static [&'static str],
    /// Indices into `names`/`columns`, ascending; borrowed from [`ALL_INDICES`] while every
    /// field is selected, so that the default selection (every request without `fields=`)
    /// allocates nothing.
    selected: Cow<'static, [usize]>,
}

/// Why a field selection was refused. Converts into a 400 [`Problem`] whose `errors`
/// names the `fields` parameter and the offending field.
///
/// ```
/// use apiforge_runtime::fieldset::FieldError;
/// use apiforge_runtime::problem::Problem;
///
/// let err = FieldError::Unknown { field: "colour".into(), valid: &["id", "name"] };
/// assert_eq!(err.to_string(), "unknown field `colour`; valid fields: id, name");
/// let p = Problem::from(err);
/// assert_eq!((p.status, p.errors[0].field.as_str()), (400, "fields"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The name is not a field of the resource.
    #[error("unknown field `{field}`; valid fields: {}", valid.join(", "))]
    Unknown {
        /// The name as requested.
        field: String,
        /// The selectable fields.
        valid: &'static [&'static str],
    },
    /// The field exists but is hidden (never serialized or selectable).
    #[error("field `{field}` is not selectable; valid fields: {}", valid.join(", "))]
    Hidden {
        /// The name as requested.
        field: String,
        /// The selectable fields.
        valid: &'static [&'static str],
    },
    /// The list was empty or had an empty entry (`fields=` or `fields=id,,name`).
    #[error("field list has an empty entry; valid fields: {}", valid.join(", "))]
    Empty {
        /// The selectable fields.
        valid: &'static [&'static str],
    },
}

impl FieldError {
    /// The offending field name, if there is one.
    ///
    /// ```
    /// # use apiforge_runtime::fieldset::FieldError;
    /// assert_eq!(FieldError::Empty { valid: &["id"] }.field(), None);
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Unknown { field, .. } | Self::Hidden { field, .. } => Some(field),
            Self::Empty { .. } => None,
        }
    }
}

impl From<FieldError> for Problem {
    fn from(err: FieldError) -> Self {
        let message = err.to_string();
        Problem::bad_request(message.clone()).with_error("fields", message)
    }
}

impl axum::response::IntoResponse for FieldError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}

/// `0, 1, 2, …`: the selection of every field, for resources of up to this many fields.
static ALL_INDICES: [usize; 256] = {
    let mut all = [0; 256];
    let mut i = 0;
    while i < all.len() {
        all[i] = i;
        i += 1;
    }
    all
};

impl FieldSet {
    /// Every selectable field of `R`.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert_eq!(FieldSet::all::<T>().iter().collect::<Vec<_>>(), ["id", "a"]);
    /// ```
    pub fn all<R: Resource>() -> Self {
        Self {
            table: R::TABLE,
            names: R::FIELDS,
            columns: R::COLUMNS,
            selected: match ALL_INDICES.get(..R::FIELDS.len()) {
                Some(all) => Cow::Borrowed(all),
                None => Cow::Owned((0..R::FIELDS.len()).collect()),
            },
        }
    }

    /// Parses a comma-separated list of field names (surrounding spaces ignored) against
    /// `R`'s selectable fields.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert!(FieldSet::parse::<T>("a").is_ok());
    /// assert!(matches!(FieldSet::parse::<T>("b"), Err(FieldError::Unknown { .. })));
    /// assert!(matches!(FieldSet::parse::<T>(""), Err(FieldError::Empty { .. })));
    /// ```
    pub fn parse<R: Resource>(spec: &str) -> Result<Self, FieldError> {
        let mut set = Self {
            selected: Cow::Owned(Vec::new()),
            ..Self::all::<R>()
        };
        for name in spec.split(',') {
            set.insert::<R>(name.trim())?;
        }
        Ok(set)
    }

    /// Adds one field by name (e.g. a foreign key that an `include` needs).
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// let mut f = FieldSet::parse::<T>("a").unwrap();
    /// f.insert::<T>("id").unwrap();
    /// assert_eq!(f.to_string(), "id,a");
    /// ```
    pub fn insert<R: Resource>(&mut self, name: &str) -> Result<(), FieldError> {
        debug_assert_eq!(self.table, R::TABLE, "FieldSet used with another resource");
        if name.is_empty() {
            return Err(FieldError::Empty { valid: R::FIELDS });
        }
        let Some(index) = R::FIELDS.iter().position(|f| *f == name) else {
            return Err(if R::HIDDEN.contains(&name) {
                FieldError::Hidden {
                    field: name.to_owned(),
                    valid: R::FIELDS,
                }
            } else {
                FieldError::Unknown {
                    field: name.to_owned(),
                    valid: R::FIELDS,
                }
            });
        };
        if let Err(at) = self.selected.binary_search(&index) {
            self.selected.to_mut().insert(at, index);
        }
        Ok(())
    }

    /// Whether the field `name` is selected.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert!(!FieldSet::parse::<T>("id").unwrap().contains("a"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|f| f == name)
    }

    /// The selected field names (as in JSON and `fields=`), in declaration order.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert_eq!(FieldSet::parse::<T>("a,id").unwrap().iter().collect::<Vec<_>>(), ["id", "a"]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        self.selected.iter().map(|&i| self.names[i])
    }

    /// The SQL column names of the selected fields, in declaration order.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")]
    /// # struct T { #[resource(primary_key)] id: i32, #[resource(column = "is_active")] active: bool }
    /// assert_eq!(FieldSet::all::<T>().columns().collect::<Vec<_>>(), ["id", "is_active"]);
    /// ```
    pub fn columns(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        self.selected.iter().map(|&i| self.columns[i])
    }

    /// Indices of the selected fields into [`Resource::FIELDS`] / [`Resource::COLUMNS`].
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert_eq!(FieldSet::parse::<T>("a").unwrap().indices(), &[1]);
    /// ```
    pub fn indices(&self) -> &[usize] {
        &self.selected
    }

    /// The number of selected fields.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert_eq!(FieldSet::parse::<T>("a,a").unwrap().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.selected.len()
    }

    /// Whether nothing is selected. Never true for sets built here: parsing refuses an empty
    /// list and the primary key is always selectable.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32 }
    /// assert!(!FieldSet::all::<T>().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }

    /// The selection as a cache key part: `*` for every field (short to build and hash on
    /// every request without `fields=`), else the names as in [`Display`](fmt::Display).
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert_eq!(FieldSet::all::<T>().cache_key().to_string(), "*");
    /// assert_eq!(FieldSet::parse::<T>("a").unwrap().cache_key().to_string(), "a");
    /// ```
    pub fn cache_key(&self) -> impl fmt::Display + '_ {
        struct Key<'a>(&'a FieldSet);
        impl fmt::Display for Key<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.0.is_all() {
                    f.write_str("*")
                } else {
                    fmt::Display::fmt(self.0, f)
                }
            }
        }
        Key(self)
    }

    /// Whether every selectable field is selected.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32, a: bool }
    /// assert!(FieldSet::parse::<T>("a,id").unwrap().is_all());
    /// ```
    pub fn is_all(&self) -> bool {
        self.selected.len() == self.names.len()
    }

    /// The table of the resource this set was built for.
    ///
    /// ```
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Resource)] #[resource(table = "t")] struct T { #[resource(primary_key)] id: i32 }
    /// assert_eq!(FieldSet::all::<T>().table(), "t");
    /// ```
    pub fn table(&self) -> &'static str {
        self.table
    }
}

/// The canonical `fields=` form: names joined by commas, in declaration order.
impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}
