//! `apiforge explain`: EXPLAIN every generated query shape (see docs/explain.md).
