//! Backups: every table of Tenure's schema written out as JSON lines from one consistent
//! snapshot (a read transaction: WAL snapshot on SQLite, REPEATABLE READ on PostgreSQL), and
//! restored into an empty database of either backend. Values are copied as stored, so sealed
//! credentials stay sealed (they need the same master key to open) and the audit chain still
//! verifies.
//!
//! The file: a header line (format, version, backend, the schema's migrations), then per table
//! a line naming its columns and their kinds followed by one line per row, then a trailer with
//! the row count per table and the SHA-256 of every byte before the trailer. A restore checks
//! the checksum before it writes anything and writes everything in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyTypeInfoKind;
use sqlx::{Row, TypeInfo, ValueRef};

use crate::row::*;
use crate::{Backend, Store, StoreError};

const FORMAT: &str = "tenure-backup";
const VERSION: u32 = 1;
/// Bookkeeping the restoring store writes itself.
const SKIPPED: &[&str] = &["tenure_migrations"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    #[error("backup file line {line}: {message}")]
    Format { line: usize, message: String },
    #[error("backup file is damaged or incomplete: {0}")]
    Checksum(String),
    #[error("the database is not empty ({table} has rows): restore only into a new, empty database")]
    NotEmpty { table: String },
    #[error(
        "the backup is of schema {backup:?} but this Tenure's is {ours:?}: restore with the Tenure version that wrote it"
    )]
    Schema { backup: Vec<i64>, ours: Vec<i64> },
    #[error("the copy does not add up: {table} has {source_rows} rows in the source but {target_rows} in the target")]
    Mismatch { table: String, source_rows: u64, target_rows: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    backend: String,
    created_ms: i64,
    migrations: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Column {
    name: String,
    /// `int` or `text`: how a value (and a NULL) is bound on restore.
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableStart {
    table: String,
    columns: Vec<Column>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    end: bool,
    tables: BTreeMap<String, u64>,
    sha256: String,
}

/// What a backup or restore moved, per table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupSummary {
    pub tables: BTreeMap<String, u64>,
}

/// What `tenure db copy` moved: each table's rows in the source's snapshot and, counted again
/// after the copy, in the target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopySummary {
    pub tables: BTreeMap<String, TableCopy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TableCopy {
    pub source: u64,
    pub target: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Writes lines and hashes them.
struct Hashing<W: Write> {
    out: W,
    ctx: Context,
}

impl<W: Write> Hashing<W> {
    fn line(&mut self, value: &impl Serialize) -> Result<(), BackupError> {
        let mut bytes =
            serde_json::to_vec(value).map_err(|e| BackupError::Format { line: 0, message: e.to_string() })?;
        bytes.push(b'\n');
        self.ctx.update(&bytes);
        self.out.write_all(&bytes)?;
        Ok(())
    }
}

impl Store {
    /// Tenure's tables, parents before the tables that reference them.
    async fn tables_in_order(&self, conn: &mut sqlx::AnyConnection) -> Result<Vec<String>, BackupError> {
        let (tables_sql, fk_sql) = match self.backend {
            Backend::Sqlite => (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                "SELECT m.name AS child, f.\"table\" AS parent FROM sqlite_master m \
                 JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            ),
            Backend::Postgres => (
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
                "SELECT CAST(tc.table_name AS TEXT) AS child, CAST(ccu.table_name AS TEXT) AS parent FROM information_schema.table_constraints tc \
                 JOIN information_schema.constraint_column_usage ccu \
                 ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema \
                 WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()",
            ),
        };
        let names: Vec<String> = sqlx::query(tables_sql)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| text(r, "name"))
            .collect::<Result<_, _>>()?;
        let mut parents: BTreeMap<String, BTreeSet<String>> =
            names.iter().map(|n| (n.clone(), BTreeSet::new())).collect();
        for r in sqlx::query(fk_sql).fetch_all(&mut *conn).await? {
            let (child, parent) = (text(&r, "child")?, text(&r, "parent")?);
            if child != parent
                && let Some(set) = parents.get_mut(&child)
            {
                set.insert(parent);
            }
        }
        let mut ordered = Vec::new();
        while !parents.is_empty() {
            let ready: Vec<String> = parents
                .iter()
                .filter(|(_, ps)| ps.iter().all(|p| !parents.contains_key(p)))
                .map(|(n, _)| n.clone())
                .collect();
            if ready.is_empty() {
                return Err(BackupError::Format { line: 0, message: "foreign keys form a cycle".into() });
            }
            for n in ready {
                parents.remove(&n);
                ordered.push(n);
            }
        }
        Ok(ordered.into_iter().filter(|t| !SKIPPED.contains(&t.as_str()) && valid_identifier(t)).collect())
    }

    async fn columns_of(&self, conn: &mut sqlx::AnyConnection, table: &str) -> Result<Vec<Column>, BackupError> {
        let rows = match self.backend {
            Backend::Sqlite => {
                sqlx::query("SELECT name, type AS kind FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(&mut *conn)
                    .await?
            }
            Backend::Postgres => {
                sqlx::query(
                    "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS kind FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                let name = text(r, "name")?;
                let declared = text(r, "kind")?.to_ascii_lowercase();
                let kind = if declared.contains("int") { "int" } else { "text" };
                if !valid_identifier(&name) {
                    return Err(BackupError::Format { line: 0, message: format!("column name {name:?}") });
                }
                Ok(Column { name, kind: kind.to_owned() })
            })
            .collect()
    }

    async fn migrations_in(conn: &mut sqlx::AnyConnection) -> Result<Vec<i64>, BackupError> {
        let rows = sqlx::query("SELECT version FROM tenure_migrations ORDER BY version").fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(|r| int(r, "version")).collect::<Result<_, _>>()?)
    }

    /// Writes a consistent snapshot of every table to `out`, while the server may be running.
    pub async fn backup(&self, out: impl Write) -> Result<BackupSummary, BackupError> {
        let mut tx = self.read.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        }
        let mut w = Hashing { out, ctx: Context::new(&SHA256) };
        let migrations = Self::migrations_in(&mut tx).await?;
        w.line(&Header {
            format: FORMAT.into(),
            version: VERSION,
            backend: self.backend.name().into(),
            created_ms: crate::now_ms(),
            migrations,
        })?;
        let mut summary = BackupSummary::default();
        for table in self.tables_in_order(&mut tx).await? {
            let columns = self.columns_of(&mut tx, &table).await?;
            w.line(&TableStart { table: table.clone(), columns: columns.clone() })?;
            let list = columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
            let rows =
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {list} FROM \"{table}\""))).fetch_all(&mut *tx).await?;
            for r in &rows {
                let mut values = Vec::with_capacity(columns.len());
                for i in 0..columns.len() {
                    values.push(value_at(r, i)?);
                }
                w.line(&Value::Array(values))?;
            }
            summary.tables.insert(table, rows.len() as u64);
        }
        tx.rollback().await?;
        let sha256 = hex(w.ctx.clone().finish().as_ref());
        let trailer = Trailer { end: true, tables: summary.tables.clone(), sha256 };
        let mut bytes =
            serde_json::to_vec(&trailer).map_err(|e| BackupError::Format { line: 0, message: e.to_string() })?;
        bytes.push(b'\n');
        w.out.write_all(&bytes)?;
        w.out.flush()?;
        Ok(summary)
    }

    /// Restores a backup into this database, which must be empty (migrated, no rows): checks
    /// the whole file first, then writes every row in one transaction.
    pub async fn restore(&self, path: &std::path::Path) -> Result<BackupSummary, BackupError> {
        let expected = verify_file(path)?;
        let mut tx = self.write_tx().await?;
        let ours = Self::migrations_in(&mut tx).await?;
        for table in self.tables_in_order(&mut tx).await? {
            let any = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT 1 AS one FROM \"{table}\" LIMIT 1")))
                .fetch_optional(&mut *tx)
                .await?;
            if any.is_some() {
                return Err(BackupError::NotEmpty { table });
            }
        }
        let reader = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut current: Option<(String, Vec<Column>, String)> = None;
        let mut summary = BackupSummary::default();
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            let number = index + 1;
            let bad = |message: String| BackupError::Format { line: number, message };
            let value: Value = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            if number == 1 {
                let header: Header = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
                if header.format != FORMAT || header.version != VERSION {
                    return Err(bad(format!("not a {FORMAT} v{VERSION} file")));
                }
                if header.migrations != ours {
                    return Err(BackupError::Schema { backup: header.migrations, ours });
                }
                continue;
            }
            match value {
                Value::Array(values) => {
                    let Some((table, columns, sql)) = &current else {
                        return Err(bad("a row before any table".into()));
                    };
                    if values.len() != columns.len() {
                        return Err(bad(format!("{} values for {} columns of {table}", values.len(), columns.len())));
                    }
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                    for (v, c) in values.into_iter().zip(columns) {
                        query = match (v, c.kind.as_str()) {
                            (Value::Null, "int") => query.bind(None::<i64>),
                            (Value::Null, _) => query.bind(None::<String>),
                            (Value::Number(n), _) => {
                                query.bind(n.as_i64().ok_or_else(|| bad(format!("{n} in {table}")))?)
                            }
                            (Value::String(s), _) => query.bind(s),
                            (other, _) => return Err(bad(format!("unexpected value {other} in {table}"))),
                        };
                    }
                    query.execute(&mut *tx).await?;
                    *summary.tables.entry(table.clone()).or_default() += 1;
                }
                Value::Object(map) if map.contains_key("table") => {
                    let start: TableStart =
                        serde_json::from_value(Value::Object(map)).map_err(|e| bad(e.to_string()))?;
                    if !valid_identifier(&start.table) || start.columns.iter().any(|c| !valid_identifier(&c.name)) {
                        return Err(bad(format!("table {:?}", start.table)));
                    }
                    let list = start.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
                    let params = (1..=start.columns.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                    let sql = format!("INSERT INTO \"{}\" ({list}) VALUES ({params})", start.table);
                    summary.tables.entry(start.table.clone()).or_default();
                    current = Some((start.table, start.columns, sql));
                }
                Value::Object(map) if map.contains_key("end") => break,
                _ => return Err(bad("not a table, row or trailer line".into())),
            }
        }
        if summary.tables != expected.tables {
            return Err(BackupError::Checksum("row counts differ from the trailer".into()));
        }
        if self.backend == Backend::Postgres {
            advance_sequences(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(summary)
    }

    /// Rows per table, every tenant's.
    pub async fn row_counts(&self) -> Result<BTreeMap<String, u64>, BackupError> {
        let mut conn = self.read.acquire().await?;
        let mut counts = BTreeMap::new();
        for table in self.tables_in_order(&mut conn).await? {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM \"{table}\"")))
                .fetch_one(&mut *conn)
                .await?;
            counts.insert(table, int(&row, "n")?.max(0) as u64);
        }
        Ok(counts)
    }

    /// Opens another database with this store's master keys, so what a copy writes stays sealed
    /// under the keys that sealed it (and opens with them).
    pub async fn connect_with_same_keys(&self, url: &str) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        let pool = backend.connect(url).await?;
        let read = backend.read_pool(url, &pool)?;
        let store = Store { pool, read, backend, keyring: std::sync::Arc::clone(&self.keyring) };
        crate::migrate::run(&store.pool, backend).await?;
        Ok(store)
    }

    /// Copies every table (every tenant) into `target`, which must be empty, from one
    /// consistent snapshot of this database, through a backup file in the system's temporary
    /// directory (readable by its owner only, removed afterwards); then counts every table of
    /// the target and compares. Values move as stored: sealed credentials stay sealed and the
    /// audit chain still verifies.
    pub async fn copy_to(&self, target: &Store) -> Result<CopySummary, BackupError> {
        let mut file = tempfile::NamedTempFile::new()?;
        let written = {
            let mut out = std::io::BufWriter::new(file.as_file_mut());
            let written = self.backup(&mut out).await?;
            out.flush()?;
            written
        };
        target.restore(file.path()).await?;
        drop(file);
        let counted = target.row_counts().await?;
        let mut summary = CopySummary::default();
        for (table, source_rows) in written.tables {
            let target_rows = counted.get(&table).copied().unwrap_or(0);
            if target_rows != source_rows {
                return Err(BackupError::Mismatch { table, source_rows, target_rows });
            }
            summary.tables.insert(table, TableCopy { source: source_rows, target: target_rows });
        }
        if let Some((table, &target_rows)) = counted.iter().find(|(t, _)| !summary.tables.contains_key(*t)) {
            return Err(BackupError::Mismatch { table: table.clone(), source_rows: 0, target_rows });
        }
        Ok(summary)
    }
}

/// Restored rows carry the values a PostgreSQL sequence handed out in the source (the queue's
/// order): each sequence behind a column default moves past the largest value restored, so new
/// rows come after the old ones.
async fn advance_sequences(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), BackupError> {
    let rows = sqlx::query(
        "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name, \
         CAST(column_default AS TEXT) AS column_default FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
    )
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let (table, column, default) = (text(&r, "table_name")?, text(&r, "column_name")?, text(&r, "column_default")?);
        let Some(sequence) = default.split('\'').nth(1).filter(|s| valid_identifier(s)) else { continue };
        if !valid_identifier(&table) || !valid_identifier(&column) {
            continue;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval('{sequence}', COALESCE((SELECT MAX(\"{column}\") FROM \"{table}\"), 0) + 1, false)"
        )))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The trailer of a backup file, after checking that its checksum covers every line before it.
pub fn verify_file(path: &std::path::Path) -> Result<BackupSummary, BackupError> {
    let bytes = std::fs::read(path)?;
    let body_end = bytes[..bytes.len().saturating_sub(1)].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (body, trailer) = bytes.split_at(body_end);
    let trailer: Trailer = serde_json::from_slice(trailer)
        .map_err(|_| BackupError::Checksum("no trailer: the file was cut short".into()))?;
    let mut ctx = Context::new(&SHA256);
    ctx.update(body);
    if !trailer.end || hex(ctx.finish().as_ref()) != trailer.sha256 {
        return Err(BackupError::Checksum("its SHA-256 does not match: it was changed or damaged".into()));
    }
    Ok(BackupSummary { tables: trailer.tables })
}

fn value_at(r: &sqlx::any::AnyRow, i: usize) -> Result<Value, BackupError> {
    let raw = r.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().kind();
    Ok(match kind {
        AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
            Value::from(r.try_get::<i64, _>(i)?)
        }
        AnyTypeInfoKind::Bool => Value::from(i64::from(r.try_get::<bool, _>(i)?)),
        AnyTypeInfoKind::Text => Value::from(r.try_get::<String, _>(i)?),
        other => {
            return Err(BackupError::Format {
                line: 0,
                message: format!(
                    "column {i} holds a {} ({other:?}), which backups do not carry",
                    raw.type_info().name()
                ),
            });
        }
    })
}
