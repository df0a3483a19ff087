//! Keyset cursors for deep pages (issue 5, item 8), against the real PostgreSQL: the
//! shop's `products.list.<sort>.after` statements — the SQL the generated service runs
//! after a `cursor` — read about one page of rows through an index however deep the page,
//! while the `products.list.<sort>` (`OFFSET`) statement at the same depth reads every row
//! it skips. The statements, their parameter types and their parameter order come from
//! `Model::query_shapes()` (the templates render the same model), the schema from the
//! migration `apiforge new` writes; parameters are bound as the generated service binds
//! them (filters `NULL` when absent, the cursor as `[sort value, key]` JSON text,
//! `LIMIT default_limit + 1`).
//!
//! Plans are read from `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE` of a prepared
//! statement after five warm-up executions, so the plan is the one a pooled connection's
//! cached statement settles on (`plan_cache_mode = auto`: custom or generic).

mod common;

use std::path::Path;
use std::process::Command;

use apiforge::model::{Model, QueryShape, ResourceModel, SortShape};
use serde_json::Value;
use sqlx::{Connection, PgConnection};

const SHOP: &str = "examples/shop.yaml";
/// Rows seeded into `products`.
const ROWS: i64 = 200_000;
/// The cursor is the row at this position (1-based) of the sort order.
const DEPTH: i64 = 150_000;
/// At most this many rows share a value of any sort column in the seeded data (checked).
const MAX_TIES: i64 = 4;
/// The filter every filtered keyset page is checked with, and its seeded value count.
const CATEGORY: &str = "category";
const CATEGORIES: i64 = 20;

/// One plan node on `products` that reads rows.
#[derive(Debug)]
struct Scan {
    node: String,
    /// Rows returned plus rows removed by the scan's filter (and recheck), over all loops.
    read: f64,
}

/// What one `EXPLAIN ANALYZE` tells.
#[derive(Debug)]
struct Plan {
    /// Every node type, outermost first.
    nodes: Vec<String>,
    /// The scans of `products`.
    scans: Vec<Scan>,
    /// How `products` is read: scan node types and index names, outermost first.
    access: Vec<String>,
    /// Shared buffers hit + read by the whole statement.
    buffers: f64,
    /// Rows the statement returned.
    rows: f64,
}

impl Plan {
    fn parse(doc: Value) -> Self {
        let root = doc[0]["Plan"].clone();
        let num = |n: &Value, k: &str| n.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let mut plan = Plan {
            nodes: Vec::new(),
            scans: Vec::new(),
            access: Vec::new(),
            buffers: num(&root, "Shared Hit Blocks") + num(&root, "Shared Read Blocks"),
            rows: num(&root, "Actual Rows"),
        };
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            let kind = node["Node Type"].as_str().unwrap_or("?").to_owned();
            if node["Relation Name"] == "products" {
                let per_loop = num(&node, "Actual Rows")
                    + num(&node, "Rows Removed by Filter")
                    + num(&node, "Rows Removed by Index Recheck");
                plan.scans.push(Scan {
                    node: kind.clone(),
                    read: per_loop * num(&node, "Actual Loops"),
                });
            }
            if node["Relation Name"] == "products" || node.get("Index Name").is_some() {
                let mut access = kind.clone();
                if let Some(index) = node["Index Name"].as_str() {
                    access.push_str(&format!(" {index}"));
                }
                plan.access.push(access);
            }
            plan.nodes.push(kind);
            if let Some(children) = node["Plans"].as_array() {
                stack.extend(children.iter().rev().cloned());
            }
        }
        plan
    }

    /// Rows read from `products` by every scan of the plan.
    fn read(&self) -> f64 {
        self.scans.iter().map(|s| s.read).sum()
    }

    /// `Index Scan products_price_idx`, `Bitmap Heap Scan + Bitmap Index Scan …`, ….
    fn access(&self) -> String {
        self.access.join(" + ")
    }

    /// The node types, outermost first, and the rows each `products` scan read.
    fn outline(&self) -> String {
        let scans: Vec<String> = self
            .scans
            .iter()
            .map(|s| format!("{} read {}", s.node, s.read))
            .collect();
        format!("{} [{}]", self.nodes.join(" > "), scans.join(", "))
    }

    /// Whether the statement read about one page (`page` rows, plus ties of the sort
    /// value at both ends) through an ordered index scan; `Err` says why not.
    fn one_page_through_an_index(&self, what: &str, page: i64) -> Result<(), String> {
        let bound = (page + 2 * (MAX_TIES - 1)) as f64;
        let fail = |why: String| Err(format!("{what}: {why}\n    plan: {}", self.outline()));
        if self.rows != page as f64 {
            return fail(format!("returned {} rows, not a page of {page}", self.rows));
        }
        if self.scans.is_empty() {
            return fail("no scan of products".into());
        }
        if let Some(scan) = self
            .scans
            .iter()
            .find(|s| !matches!(s.node.as_str(), "Index Scan" | "Index Only Scan"))
        {
            return fail(format!(
                "products read by a {}, not an ordered index scan",
                scan.node
            ));
        }
        // An `Incremental Sort` orders only the rows sharing one value of the sort column
        // (its presorted key, from the index); a full `Sort` means every candidate row
        // was read first. (Other tables, e.g. a lateral join of aggregates, are not
        // checked here: only the page's own scan.)
        if self.nodes.iter().any(|n| n == "Sort") {
            return fail("a full Sort node".into());
        }
        if self.read() > bound {
            return fail(format!(
                "read {} rows of products for a page of {page} (bound {bound})",
                self.read()
            ));
        }
        Ok(())
    }
}

/// A session on the test database, on a current-thread runtime.
struct Session {
    rt: tokio::runtime::Runtime,
    conn: PgConnection,
}

impl Session {
    fn connect(url: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(PgConnection::connect(url)).unwrap();
        Session { rt, conn }
    }

    fn run(&mut self, sql: &str) {
        let conn = &mut self.conn;
        self.rt
            .block_on(sqlx::raw_sql(sql).execute(conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn rows(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        use sqlx::Row;
        let conn = &mut self.conn;
        let rows = self
            .rt
            .block_on(sqlx::raw_sql(sql).fetch_all(conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }

    fn scalar(&mut self, sql: &str) -> String {
        self.rows(sql)[0][0].clone().unwrap_or_default()
    }

    /// `PREPARE`s `shape` with its parameter types; its SQL may be wrapped (`SHAPE` = the
    /// shape's statement).
    fn prepare(&mut self, name: &str, shape: &QueryShape, wrap: &str) {
        let types: Vec<&str> = shape.params.iter().map(|p| p.cast.as_str()).collect();
        let sql = wrap.replace("SHAPE", &shape.sql);
        self.run(&format!("PREPARE {name} ({}) AS {sql}", types.join(", ")));
    }

    /// `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of `shape` with `args` (SQL literals),
    /// after `warm_up` plain executions of the same prepared statement.
    fn explain(&mut self, shape: &QueryShape, args: &[String], warm_up: usize) -> Plan {
        self.prepare("keyset_shape", shape, "SHAPE");
        let execute = format!("EXECUTE keyset_shape({})", args.join(", "));
        for _ in 0..warm_up {
            self.run(&execute);
        }
        let sql = format!("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {execute}");
        let conn = &mut self.conn;
        let doc: Value = self
            .rt
            .block_on(
                sqlx::query_scalar::<_, Value>(&sql)
                    .persistent(false)
                    .fetch_one(conn),
            )
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        self.run("DEALLOCATE keyset_shape");
        Plan::parse(doc)
    }

    /// The keys of `shape`'s rows for `args`.
    fn keys(&mut self, shape: &QueryShape, pk: &str, args: &[String]) -> Vec<String> {
        self.prepare(
            "keyset_keys",
            shape,
            &format!("SELECT \"{pk}\"::text FROM (SHAPE) AS page"),
        );
        let rows = self.rows(&format!("EXECUTE keyset_keys({})", args.join(", ")));
        self.run("DEALLOCATE keyset_keys");
        rows.into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect()
    }
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The generated shop's migration applied to a fresh database.
fn shop_database() -> (common::TestDb, common::Project) {
    let project = common::Project::generate(SHOP);
    let db = common::TestDb::create();
    let out = Command::new("psql")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-d", &db.url, "-f"])
        .arg(project.dir.join("migrations/0001_init.sql"))
        .output()
        .unwrap();
    common::assert_success("psql -f 0001_init.sql", &out);
    (db, project)
}

fn shop_model() -> Model {
    let spec = common::workspace().join(SHOP);
    let loaded = apiforge::spec::load(Path::new(&spec)).unwrap_or_else(|r| panic!("{r}"));
    Model::from_spec(&loaded.spec)
}

/// One list page of `products` checked both ways at one depth.
struct Case<'a> {
    /// `-price`, `created_at`, …
    sort: String,
    field: String,
    offset: &'a QueryShape,
    after: &'a QueryShape,
    /// The filter parameters set (name, SQL literal); the others are NULL (absent).
    filters: Vec<(&'static str, String)>,
    /// `filters` in words, for the report.
    filter_sql: String,
    /// 1-based position of the cursor row in the filtered sort order.
    depth: i64,
}

/// What one case measured.
struct Measured {
    keyset: Plan,
    offset: Plan,
}

impl Case<'_> {
    /// Finds the cursor row with the offset statement itself, checks that the keyset page
    /// after it is the offset page after it, then EXPLAINs both.
    fn measure(&self, s: &mut Session, r: &ResourceModel) -> Measured {
        let pk = &r.pk.name;
        let page = i64::from(r.default_limit) + 1; // the service fetches limit + 1 rows
        let offset_args = |limit: i64, offset: i64| {
            self.args(
                self.offset,
                &[("limit", limit.to_string()), ("offset", offset.to_string())],
            )
        };
        // The cursor: the row at `depth` as `[sort value, key]`, each JSON-typed like the
        // shape's sample (a decimal or timestamp is a string, an integer a number), as
        // the service's `next_cursor` carries them.
        s.prepare(
            "keyset_cursor",
            self.offset,
            &format!(
                "SELECT to_jsonb(page.\"{}\") #>> '{{}}', to_jsonb(page.\"{pk}\") #>> '{{}}' FROM (SHAPE) AS page",
                self.field
            ),
        );
        let row = s.rows(&format!(
            "EXECUTE keyset_cursor({})",
            offset_args(1, self.depth - 1).join(", ")
        ));
        s.run("DEALLOCATE keyset_cursor");
        let (value, key) = (row[0][0].clone().unwrap(), row[0][1].clone().unwrap());
        let sample = self
            .after
            .params
            .iter()
            .find(|p| p.name == "cursor")
            .and_then(|p| p.sample.as_deref())
            .expect("the .after shape has a cursor parameter");
        let sample: Vec<Value> = serde_json::from_str(sample).expect("a [value, key] sample");
        let typed = |text: String, like: &Value| match like {
            Value::String(_) => Value::String(text),
            _ => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
        let cursor = Value::Array(vec![typed(value, &sample[0]), typed(key, &sample[1])]);
        let after_args = self.args(
            self.after,
            &[
                ("cursor", literal(&cursor.to_string())),
                ("limit", page.to_string()),
            ],
        );

        let what = format!("{} after {cursor} ({})", self.after.name, self.filter_sql);
        let by_keyset = s.keys(self.after, pk, &after_args);
        let by_offset = s.keys(self.offset, pk, &offset_args(page, self.depth));
        assert_eq!(by_keyset.len() as i64, page, "{what}: a full page");
        assert_eq!(
            by_keyset, by_offset,
            "{what}: the keyset page is the offset page"
        );

        Measured {
            keyset: s.explain(self.after, &after_args, 5),
            offset: s.explain(self.offset, &offset_args(page, self.depth), 0),
        }
    }
}

/// `INSERT … SELECT generate_series` of `ROWS` products (`sales` and `created_at` given
/// as SQL expressions of `g`), then ANALYZE.
fn seed(s: &mut Session, sales: &str, created_at: &str) {
    s.run(&format!(
        "INSERT INTO products (name, category, price, sales, created_at) \
           SELECT 'Product ' || g, 'cat' || (g * 7919 % {CATEGORIES}), \
                  ((g * 104729) % 100000) / 100.0, {sales}, {created_at} \
           FROM generate_series(1, {ROWS}::bigint) AS g; \
         ANALYZE products"
    ));
}

/// The shape named `name`.
fn shape<'a>(shapes: &'a [QueryShape], name: &str) -> &'a QueryShape {
    shapes
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no query shape {name}"))
}

/// The shop's model, its `products`, and a fresh migrated database seeded by `seed`.
struct Shop {
    model: Model,
    shapes: Vec<QueryShape>,
    session: Session,
    _db: common::TestDb,
    _project: common::Project,
}

impl Shop {
    fn new(seed_with: impl FnOnce(&mut Session)) -> Self {
        let model = shop_model();
        let shapes = model.query_shapes();
        let (db, project) = shop_database();
        let mut session = Session::connect(&db.url);
        seed_with(&mut session);
        Shop {
            model,
            shapes,
            session,
            _db: db,
            _project: project,
        }
    }

    fn products(&self) -> &ResourceModel {
        self.model
            .resource("products")
            .expect("the shop has products")
    }

    /// Every sort of `products`, unfiltered, the cursor at `depth(sort)`: whether the
    /// keyset page reads one page through an index and the offset page every skipped row.
    /// Adds the figures to `report` and the failures to `errors`.
    fn check_unfiltered(
        &mut self,
        depth: impl Fn(&SortShape) -> i64,
        report: &mut Vec<String>,
        errors: &mut Vec<String>,
    ) {
        let r = self.products().clone();
        let page = i64::from(r.default_limit) + 1;
        let Shop {
            shapes, session, ..
        } = self;
        for sort in &r.sorts {
            let case = Case {
                sort: sort.key.clone(),
                field: sort.field.clone(),
                offset: shape(shapes, &format!("products.list.{}", sort.key)),
                after: shape(shapes, &format!("products.list.{}.after", sort.key)),
                filters: Vec::new(),
                filter_sql: "no filter".into(),
                depth: depth(sort),
            };
            let m = case.measure(session, &r);
            report.push(m.line(&case, ""));
            errors.extend(m.keyset.one_page_through_an_index(&case.what(), page).err());
            errors.extend(m.offset_reads_every_skipped_row(&case).err());
        }
    }
}

impl Measured {
    fn line(&self, case: &Case, note: &str) -> String {
        format!(
            "{:<12} {:<10} keyset {:>6} rows read ({:>4} buffers: {})\n{:<23} offset {:>6} rows read ({:>4} buffers: {}){note}",
            case.sort,
            if case.filter_sql == "no filter" {
                "-"
            } else {
                "cat3"
            },
            self.keyset.read(),
            self.keyset.buffers,
            self.keyset.access(),
            "",
            self.offset.read(),
            self.offset.buffers,
            self.offset.access(),
        )
    }

    /// `Err` unless the offset statement read at least every row it skipped.
    fn offset_reads_every_skipped_row(&self, case: &Case) -> Result<(), String> {
        if self.offset.read() >= case.depth as f64 {
            return Ok(());
        }
        Err(format!(
            "{} ({}): read {} rows at depth {}: OFFSET must read every skipped row\n    plan: {}",
            case.offset.name,
            case.filter_sql,
            self.offset.read(),
            case.depth,
            self.offset.outline()
        ))
    }
}

impl Case<'_> {
    /// SQL literals of `shape`'s parameters, by name: a filter set in `filters` or NULL,
    /// else one of `values` (`cursor`, `limit`, `offset`).
    fn args(&self, shape: &QueryShape, values: &[(&str, String)]) -> Vec<String> {
        shape
            .params
            .iter()
            .map(|p| {
                let given = values
                    .iter()
                    .chain(&self.filters)
                    .find(|(n, _)| *n == p.name);
                match (given, p.name.as_str()) {
                    (Some((_, v)), _) => v.clone(),
                    (None, "cursor" | "limit" | "offset") => {
                        panic!("{}: no value for {}", shape.name, p.name)
                    }
                    (None, _) => "NULL".into(),
                }
            })
            .collect()
    }

    fn what(&self) -> String {
        format!(
            "{} ({}, depth {})",
            self.after.name, self.filter_sql, self.depth
        )
    }
}

#[test]
fn deep_keyset_pages_read_one_page_through_an_index_offset_reads_every_skipped_row() {
    // Varied, spread, nearly unique sort values (at most MAX_TIES rows per value):
    // created_at one per minute over ~139 days, price 0.00–999.99 (2 rows each), sales
    // 0–49,999 (4 rows each), 20 categories; ids in insertion order, unrelated to the rest.
    let mut shop = Shop::new(|s| {
        seed(
            s,
            "(g * 31337) % 50000",
            &format!("timestamptz '2026-01-01' + ((g * 6151) % {ROWS}) * interval '1 minute'"),
        );
        for col in ["created_at", "price", "sales"] {
            let ties: i64 = s
                .scalar(&format!(
                    "SELECT max(n)::text FROM (SELECT count(*) AS n FROM products GROUP BY {col}) AS t"
                ))
                .parse()
                .unwrap();
            assert!(ties <= MAX_TIES, "{col}: {ties} rows share a value");
        }
    });
    let (mut report, mut errors) = (Vec::new(), Vec::new());
    shop.check_unfiltered(|_| DEPTH, &mut report, &mut errors);

    // category = 'cat3' (10,000 rows), the cursor at 3/4 of them: one page when an index
    // starts with (category, sort column); without one, the scan of the sort's index
    // skips the other categories' rows: about page × 20 rows, however deep the page.
    let r = shop.products().clone();
    let page = i64::from(r.default_limit) + 1;
    assert!(
        r.filters.iter().any(|f| f.param == CATEGORY && f.op == "="),
        "products filter by category"
    );
    for sort in &r.sorts {
        let case = Case {
            sort: sort.key.clone(),
            field: sort.field.clone(),
            offset: shape(&shop.shapes, &format!("products.list.{}", sort.key)),
            after: shape(&shop.shapes, &format!("products.list.{}.after", sort.key)),
            filters: vec![(CATEGORY, literal("cat3"))],
            filter_sql: "category = 'cat3'".into(),
            depth: ROWS / CATEGORIES * 3 / 4,
        };
        let m = case.measure(&mut shop.session, &r);
        let indexed = r.indexes.iter().any(|i| {
            i.columns.len() >= 2 && i.columns[0] == CATEGORY && i.columns[1] == sort.field
        });
        report.push(m.line(
            &case,
            if indexed {
                ""
            } else {
                "  [no (category, sort) index]"
            },
        ));
        if indexed {
            errors.extend(m.keyset.one_page_through_an_index(&case.what(), page).err());
        } else {
            let bound = (page * CATEGORIES * 2) as f64;
            if m.keyset.read() > bound {
                errors.push(format!(
                    "{}: read {} rows (bound {bound})\n    plan: {}",
                    case.what(),
                    m.keyset.read(),
                    m.keyset.outline()
                ));
            }
        }
        errors.extend(m.offset_reads_every_skipped_row(&case).err());
    }
    println!(
        "{ROWS} products; cursor at row {DEPTH} (no filter) or {} of cat3; page = {page} rows (limit + 1)\n{}",
        ROWS / CATEGORIES * 3 / 4,
        report.join("\n")
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Realistic ties: `sales` is 0 (its default) for 30% of the products, and half of them
/// were bulk-imported in one transaction, so they share one `created_at` (`now()`). A
/// cursor inside such a group must still read one page: that needs an index on
/// (sort column, key); the shop's sort indexes are on the sort column alone, so the
/// planner reads the whole group after the cursor's value (or bitmap-scans and sorts it).
#[test]
fn deep_keyset_pages_inside_a_large_tie_group_read_one_page() {
    let mut shop = Shop::new(|s| {
        seed(
            s,
            "CASE WHEN g % 10 < 3 THEN 0 ELSE (g * 31337) % 50000 + 1 END",
            &format!(
                "CASE WHEN g % 2 = 0 THEN timestamptz '2026-01-01' \
                 ELSE timestamptz '2026-01-02' + ((g * 6151) % {ROWS}) * interval '1 minute' END"
            ),
        )
    });
    // Descending, the tie groups (the smallest values) hold positions from 140,001
    // (sales) and 100,001 (created_at) on: DEPTH is inside both; ascending, position
    // 30,000 is.
    let (mut report, mut errors) = (Vec::new(), Vec::new());
    shop.check_unfiltered(
        |s| if s.descending { DEPTH } else { 30_000 },
        &mut report,
        &mut errors,
    );
    println!("{}", report.join("\n"));
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
