//! The database: SQLite by default (one file in the data directory, WAL), PostgreSQL with
//! `--database-url postgres://…`. The same migrations and queries run on both through sqlx's
//! `Any` driver: only TEXT and BIGINT columns, `$n` placeholders, `RETURNING`.

use crate::error::{ErrorKind, ServerError};
use std::str::FromStr as _;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

/// Embedded migrations (server/migrations).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The two ways to the database: `main` for everything a power cut may lose, `durable` for
/// what it must not (docs/adr/0009-durability.md). On PostgreSQL both are one pool and every
/// commit is durable. On SQLite (WAL) `main` commits with `synchronous = NORMAL` (durable
/// against a crash of the server, not of the machine) and `durable` with `synchronous =
/// FULL`, whose commit also makes every earlier commit durable.
#[derive(Clone, Debug)]
pub struct Pools {
    /// Sign-ins, answers, sessions, throttles, request ids, push jobs.
    pub main: AnyPool,
    /// PIN attempt counts (before any evaluation, P2), keys and devices made or removed,
    /// accounts created.
    pub durable: AnyPool,
}

/// How long a request waits on the database before it answers 503: for a pooled connection,
/// for SQLite's write lock (`busy_timeout`), and for one PostgreSQL statement
/// (`statement_timeout`, which also ends a statement stuck behind another's lock). A timed-out
/// statement's transaction rolls back: nothing is half applied.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connects, enables WAL on SQLite, and migrates.
///
/// # Errors
/// A sentence naming the database and what failed.
pub async fn connect(url: &str) -> Result<AnyPool, ServerError> {
    Ok(connect_pools(url, DEFAULT_TIMEOUT).await?.main)
}

async fn pool(
    url: &str,
    max: u32,
    synchronous: &'static str,
    timeout: std::time::Duration,
) -> Result<AnyPool, ServerError> {
    let sqlite = url.starts_with("sqlite:");
    let millis = timeout.as_millis();
    let options = AnyConnectOptions::from_str(url)
        .map_err(|e| ServerError::of(ErrorKind::Storage, format!("invalid database URL: {e}")))?;
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(&format!("PRAGMA busy_timeout = {millis}"))
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(&format!("PRAGMA synchronous = {synchronous}"))
                        .execute(&mut *conn)
                        .await?;
                } else {
                    sqlx::query(&format!("SET statement_timeout = {millis}"))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| ServerError::of(ErrorKind::Storage, format!("cannot open the database: {e}")))
}

/// Connects both pools, enables WAL on SQLite, and migrates.
///
/// # Errors
/// A sentence naming the database and what failed.
pub async fn connect_pools(url: &str, timeout: std::time::Duration) -> Result<Pools, ServerError> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let pool = if sqlite {
        self::pool(url, 2, "NORMAL", timeout).await?
    } else {
        self::pool(url, 16, "", timeout).await?
    };
    if sqlite {
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .map_err(|e| ServerError::of(ErrorKind::Storage, format!("cannot enable WAL: {e}")))?;
    }
    MIGRATOR.run(&pool).await.map_err(|e| {
        ServerError::of(
            ErrorKind::Storage,
            format!("database migration failed: {e}"),
        )
    })?;
    let durable = if sqlite {
        self::pool(url, 1, "FULL", timeout).await?
    } else {
        // Every commit is the durable kind on PostgreSQL, as long as the cluster says so.
        let level: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
            .fetch_one(&pool)
            .await?;
        if level == "off" {
            return Err(ServerError::of(
                ErrorKind::Config,
                "PostgreSQL runs with synchronous_commit = off, so a crash may forget counted \
                 PIN attempts: set it to on (the default) for this database, e.g. \
                 ALTER DATABASE … SET synchronous_commit = on",
            ));
        }
        pool.clone()
    };
    Ok(Pools {
        main: pool,
        durable,
    })
}

/// The SQLite URL for a file in the data directory (created if missing).
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("latchkey.db").display()
    )
}

/// Runs `work` unless another node is running work under the same `lock` (a PostgreSQL
/// advisory lock held by a transaction on one pooled connection: released when it ends,
/// also if `work` panics or the task is aborted; on SQLite there is one node, so it just
/// runs). Returns `Ok(None)` when skipped.
///
/// # Errors
/// The database error, or `work`'s.
pub async fn one_node_at_a_time<T, F, Fut>(
    state: &crate::AppState,
    lock: i64,
    work: F,
) -> Result<Option<T>, ServerError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServerError>>,
{
    if !state.postgres {
        return work().await.map(Some);
    }
    let mut holder = state.db.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(lock)
        .fetch_one(&mut *holder)
        .await?;
    if !locked {
        return Ok(None);
    }
    let result = work().await;
    holder.rollback().await?;
    result.map(Some)
}

/// Deletes the rows of `table` whose `column` is below `before`, at most 10,000 per call in
/// batches of 1,000: a backlog (a retention lowered, a server that was down) goes over a few
/// sweeps without holding the database for long. Returns how many went. Both names are the
/// caller's constants, never input.
///
/// # Errors
/// A storage failure.
pub(crate) async fn delete_older(
    db: &AnyPool,
    table: &'static str,
    column: &'static str,
    before: i64,
) -> Result<u64, ServerError> {
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} < $1 LIMIT 1000)"
    );
    let mut total = 0;
    for _ in 0..10 {
        let deleted = sqlx::query(&sql)
            .bind(before)
            .execute(db)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < 1000 {
            break;
        }
    }
    Ok(total)
}
