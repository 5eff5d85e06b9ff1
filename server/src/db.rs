//! The database: SQLite by default (one file in the data directory, WAL), PostgreSQL with
//! `--database-url postgres://…`. The same migrations and queries run on both through sqlx's
//! `Any` driver: only TEXT and BIGINT columns, `$n` placeholders, `RETURNING`.

use crate::error::{ErrorKind, ServerError};
use std::str::FromStr as _;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

/// Embedded migrations (server/migrations).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects, enables WAL on SQLite, and migrates.
///
/// # Errors
/// A sentence naming the database and what failed.
pub async fn connect(url: &str) -> Result<AnyPool, ServerError> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let options = AnyConnectOptions::from_str(url)
        .map_err(|e| ServerError::of(ErrorKind::Storage, format!("invalid database URL: {e}")))?;
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 8 } else { 16 })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| {
            ServerError::of(ErrorKind::Storage, format!("cannot open the database: {e}"))
        })?;
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
    Ok(pool)
}

/// The SQLite URL for a file in the data directory (created if missing).
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("latchkey.db").display()
    )
}
