//! SQL steps for tokio-postgres.
//!
//! tokio-postgres opens no `tracing` spans (it logs through `log`), so its
//! statements are recorded by a thin client wrapper: each call is one SQL
//! step of the async work being polled (a request under
//! [`crate::OspreyServerLayer`], a future in `in_transaction` or
//! `in_step`, an `#[instrument]`ed function with `OspreyLayer`), named by
//! its statement with literals replaced by `?`, with `db.system` =
//! `postgresql`. Outside any, calls go through untouched.
//!
//! ```no_run
//! # async fn run() -> Result<(), tokio_postgres::Error> {
//! let (client, connection) =
//!     tokio_postgres::connect("host=127.0.0.1 user=app", tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//! let client = osprey_web::postgres::Client::new(client);
//! let rows = client.query("SELECT name FROM users WHERE id = $1", &[&7i64]).await?;
//! let insert = client.prepare("INSERT INTO audit (what) VALUES ($1)").await?;
//! client.execute(&insert, &[&"login"]).await?;
//! # drop(rows); Ok(()) }
//! ```
//!
//! A failed statement marks its step failed with the SQLSTATE code only:
//! PostgreSQL's messages can quote the values that failed.

use osprey::future::StepHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, ToStatement};

/// The `db.system` of PostgreSQL steps.
pub const DB_SYSTEM: &str = "postgresql";

/// A tokio-postgres client that records each statement as a SQL step.
/// Everything else is on [`Client::inner`].
#[derive(Debug)]
pub struct Client {
    inner: tokio_postgres::Client,
}

/// A prepared statement that remembers its text (tokio-postgres'
/// `Statement` does not expose it) to name its steps.
#[derive(Clone, Debug)]
pub struct Prepared {
    statement: tokio_postgres::Statement,
    text: String,
}

impl Prepared {
    /// The tokio-postgres statement.
    pub fn statement(&self) -> &tokio_postgres::Statement {
        &self.statement
    }

    /// Its SQL text as prepared.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A statement [`Client`] can run: SQL text or a [`Prepared`] statement.
pub trait Statement: sealed::Sealed {
    /// What tokio-postgres runs.
    type Inner: ?Sized + ToStatement;
    /// The SQL text that names the step.
    fn text(&self) -> &str;
    /// The statement for tokio-postgres.
    fn inner(&self) -> &Self::Inner;
}

impl Statement for str {
    type Inner = str;
    fn text(&self) -> &str {
        self
    }
    fn inner(&self) -> &str {
        self
    }
}

impl Statement for String {
    type Inner = str;
    fn text(&self) -> &str {
        self
    }
    fn inner(&self) -> &str {
        self
    }
}

impl Statement for Prepared {
    type Inner = tokio_postgres::Statement;
    fn text(&self) -> &str {
        &self.text
    }
    fn inner(&self) -> &tokio_postgres::Statement {
        &self.statement
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for str {}
    impl Sealed for String {}
    impl Sealed for super::Prepared {}
}

impl Client {
    /// Wraps a connected client.
    pub fn new(inner: tokio_postgres::Client) -> Self {
        Self { inner }
    }

    /// The wrapped client (its calls are not recorded).
    pub fn inner(&self) -> &tokio_postgres::Client {
        &self.inner
    }

    /// Prepares a statement (recorded as a SQL step of its own).
    pub async fn prepare(&self, query: &str) -> Result<Prepared, Error> {
        let statement = traced(query, self.inner.prepare(query)).await?;
        Ok(Prepared {
            statement,
            text: query.to_owned(),
        })
    }

    /// Runs a statement and returns its rows.
    pub async fn query<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + Statement,
    {
        let step = sql_step(statement.text());
        let rows = run(&step, self.inner.query(statement.inner(), params)).await?;
        step.attr("db.response.returned_rows", rows.len() as i64);
        step.end();
        Ok(rows)
    }

    /// Runs a statement that returns exactly one row.
    pub async fn query_one<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>
    where
        T: ?Sized + Statement,
    {
        traced(
            statement.text(),
            self.inner.query_one(statement.inner(), params),
        )
        .await
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error>
    where
        T: ?Sized + Statement,
    {
        traced(
            statement.text(),
            self.inner.query_opt(statement.inner(), params),
        )
        .await
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute<T>(
        &self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error>
    where
        T: ?Sized + Statement,
    {
        let step = sql_step(statement.text());
        let rows = run(&step, self.inner.execute(statement.inner(), params)).await?;
        step.attr(
            "db.response.affected_rows",
            i64::try_from(rows).unwrap_or(i64::MAX),
        );
        step.end();
        Ok(rows)
    }

    /// Runs statements separated by semicolons through the simple query
    /// protocol (one step for all of them).
    pub async fn batch_execute(&self, query: &str) -> Result<(), Error> {
        traced(query, self.inner.batch_execute(query)).await
    }
}

fn sql_step(text: &str) -> StepHandle {
    let step = osprey::future::sql_step(text);
    step.attr("db.system", DB_SYSTEM);
    step
}

async fn traced<R>(text: &str, work: impl Future<Output = Result<R, Error>>) -> Result<R, Error> {
    let step = sql_step(text);
    let result = run(&step, work).await;
    step.end();
    result
}

/// Awaits `work` and marks `step` failed on an error.
async fn run<R>(
    step: &StepHandle,
    work: impl Future<Output = Result<R, Error>>,
) -> Result<R, Error> {
    let result = work.await;
    if let Err(e) = &result {
        step.error(osprey::ErrorInfo {
            kind: e.code().map(|c| c.code().to_owned()).unwrap_or_default(),
            message: String::new(),
            stack: String::new(),
        });
    }
    result
}
