//! Deliveries (one event to one webhook) and their attempts; claiming due
//! work with leases.

use sqlx::Row;

use super::{Backend, Params, Store, StoreResult, Tx, on_read, on_tx, on_write, placeholders};
use crate::clock::Millis;

/// Where a delivery stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Queued,
    Succeeded,
    Retrying,
    Dropped,
    Filtered,
    PluginFailed,
    Overflowed,
}

/// Rows a resume releases per statement on SQLite (see `Tx::release_queue`).
const RELEASE_STEP: i64 = 2_000;

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 8] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Queued,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Retrying,
        DeliveryStatus::Dropped,
        DeliveryStatus::Filtered,
        DeliveryStatus::PluginFailed,
        DeliveryStatus::Overflowed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Dropped => "dropped",
            DeliveryStatus::Filtered => "filtered",
            DeliveryStatus::PluginFailed => "plugin_failed",
            DeliveryStatus::Overflowed => "overflowed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still owed: the delivery is in `delivery_queue` (its due time and
    /// lease; see [`Store::owed_table`]) until it leaves these states.
    pub fn is_owed(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Pending | DeliveryStatus::Retrying | DeliveryStatus::Queued
        )
    }
}

/// A delivery to create.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Millis>,
    /// Set when the creating process sends it straight from memory: leased
    /// to that worker until `next_attempt_at`, when anyone may take it over.
    pub lease_owner: Option<String>,
    /// Its place in its webhook's FIFO line (the event's sequence), when
    /// the webhook is `fifo` (see `storage::lines`).
    pub line_seq: Option<i64>,
    pub created_at: Millis,
}

impl NewDelivery {
    /// This delivery in its webhook's FIFO line, at its event's place: it
    /// waits, with no due time, until the line reaches it
    /// ([`Tx::advance_lines`]).
    pub fn in_line(mut self) -> NewDelivery {
        if self.status.is_owed() {
            self.line_seq = Some(self.event_seq);
            self.next_attempt_at = None;
            self.lease_owner = None;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub status: DeliveryStatus,
    pub attempt_count: i64,
    pub next_attempt_at: Option<Millis>,
    pub last_status_code: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub attempted_at: Millis,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
    /// A transform that failed when the webhook delivers the original
    /// anyway (`on_plugin_error: deliver_original`): what went wrong.
    pub plugin_error: Option<String>,
}

/// One element of a delivery's `attempt_log` column (a JSON array, oldest
/// first): `[attempted_at, status_code, duration_ms, error,
/// response_snippet, plugin_error]`; entries written before the sixth
/// element existed have five.
#[derive(serde::Deserialize)]
struct LogEntry(
    Millis,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    #[serde(default)] Option<String>,
);

impl AttemptRecord {
    /// This attempt as an element of `attempt_log`.
    fn log_entry(&self) -> String {
        let mut text = serde_json::to_string(&(
            self.attempted_at,
            self.status_code,
            self.duration_ms,
            &self.error,
            &self.response_snippet,
        ))
        .expect("an attempt serialises");
        // The sixth element only when there is one: most attempts have none.
        if let Some(e) = &self.plugin_error {
            text.pop();
            text.push(',');
            text.push_str(&serde_json::to_string(e).expect("a string serialises"));
            text.push(']');
        }
        text
    }

    /// Every attempt of an `attempt_log`, oldest first.
    fn parse_log(log: &str) -> StoreResult<Vec<AttemptRecord>> {
        let entries: Vec<LogEntry> = serde_json::from_str(log)
            .map_err(|e| super::StoreError::Corrupt(format!("attempt log: {e}")))?;
        Ok(entries
            .into_iter()
            .map(
                |LogEntry(
                    attempted_at,
                    status_code,
                    duration_ms,
                    error,
                    response_snippet,
                    plugin_error,
                )| {
                    AttemptRecord {
                        attempted_at,
                        status_code,
                        duration_ms,
                        error,
                        response_snippet,
                        plugin_error,
                    }
                },
            )
            .collect())
    }
}

/// SQL (both stores) for `log` with the JSON element `entry` appended, or
/// unchanged when `entry` is NULL; plain text surgery, since every element
/// is written by [`AttemptRecord::log_entry`].
fn append_attempt(log: &str, entry: &str) -> String {
    format!(
        "CASE WHEN {entry} IS NULL THEN {log} WHEN {log} = '[]' THEN '[' || {entry} || ']' \
         ELSE substr({log}, 1, length({log}) - 1) || ',' || {entry} || ']' END"
    )
}

/// SQL for when a delivery whose lease is given up falls due (`$1` is
/// now), in an update of `table` keyed by `key` (see
/// [`Store::owed_table`]): never-tried ones by creation time, so the oldest
/// go first.
pub(crate) fn unleased_due(table: &str, key: &str) -> String {
    format!(
        "CASE WHEN (SELECT d.attempt_count FROM deliveries d WHERE d.id = {table}.{key}) = 0 \
         THEN created_at ELSE $1 END"
    )
}

/// A delivery claimed for sending, with what sending needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub webhook_version: i64,
    pub event_id: String,
    pub action: String,
    /// The event's body, shared by the deliveries of one event.
    pub body: std::sync::Arc<str>,
    pub attempt_count: i64,
    /// Bytes this delivery counts against the in-memory lane's bound (0 when
    /// claimed from the store).
    pub lane_bytes: usize,
    /// The trace stored with the event (see `traces`).
    pub trace: Option<crate::traces::TraceParent>,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone)]
pub struct Completion {
    pub delivery_id: String,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Millis>,
    /// `None` when nothing was attempted (a filter plugin said skip).
    pub attempt: Option<AttemptRecord>,
}

/// What [`Tx::complete_many`] recorded: the deliveries whose lease was
/// still the recorder's, and which of those are in a FIFO line (their
/// webhook's line may move on).
#[derive(Debug, Default)]
pub struct Recorded {
    pub ids: std::collections::HashSet<String>,
    pub in_line: std::collections::HashSet<String>,
    /// Those a worker turned `queued` for a pause that a resume had
    /// already lifted: recorded pending, due now, instead.
    pub resumed: std::collections::HashSet<String>,
}

impl Recorded {
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

const COLUMNS: &str = "id, org_id, webhook_id, event_seq, event_id, status, attempt_count, next_attempt_at, \
     last_status_code, created_at, updated_at";

macro_rules! decode {
    ($r:expr) => {{
        let r = $r;
        (|| -> StoreResult<DeliveryRecord> {
            let status: String = r.try_get("status")?;
            Ok(DeliveryRecord {
                id: r.try_get("id")?,
                org_id: r.try_get("org_id")?,
                webhook_id: r.try_get("webhook_id")?,
                event_seq: r.try_get("event_seq")?,
                event_id: r.try_get("event_id")?,
                status: DeliveryStatus::parse(&status).ok_or_else(|| {
                    super::StoreError::Corrupt(format!("delivery status {status:?}"))
                })?,
                attempt_count: r.try_get("attempt_count")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                last_status_code: r.try_get("last_status_code")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })()
    }};
}

impl Tx {
    /// Inserts deliveries in multi-row statements; on PostgreSQL those
    /// still owed get their row in `delivery_queue` too.
    pub async fn insert_deliveries(&mut self, rows: &[NewDelivery]) -> StoreResult<()> {
        let lease_until = |d: &NewDelivery| d.lease_owner.as_ref().and(d.next_attempt_at);
        if let Tx::Postgres(t) = self {
            // One shape whatever the count: prepared once per connection.
            if !rows.is_empty() {
                sqlx::query(
                    "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::int8[], $8::text[], $9::int8[], $10::int8[], $11::int8[]) \
                       AS v (id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, lease_owner, lease_until, created_at, line_seq)), \
                     owed AS (INSERT INTO delivery_queue (delivery_id, webhook_id, status, next_attempt_at, lease_owner, lease_until, created_at, line_seq) \
                       SELECT id, webhook_id, status, next_attempt_at, lease_owner, lease_until, created_at, line_seq FROM v \
                       WHERE status IN ('pending', 'retrying', 'queued')) \
                     INSERT INTO deliveries (id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, created_at, updated_at) \
                     SELECT id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, created_at, created_at FROM v",
                )
                .bind(rows.iter().map(|d| d.id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.org_id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.webhook_id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.event_seq).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.status.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.next_attempt_at).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.lease_owner.as_deref()).collect::<Vec<_>>())
                .bind(rows.iter().map(lease_until).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.created_at).collect::<Vec<_>>())
                .bind(rows.iter().map(|d| d.line_seq).collect::<Vec<_>>())
                .execute(&mut **t)
                .await?;
            }
            return Ok(());
        }
        // SQLite keeps what is owed in the delivery's own row.
        for chunk in rows.chunks(200) {
            let mut p = Params::new(self.backend());
            let values = p.rows(chunk.len(), 12);
            let sql = format!(
                "INSERT INTO deliveries (id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, lease_owner, lease_until, created_at, updated_at, line_seq) VALUES {values}"
            );
            on_tx!(self, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for d in chunk {
                    q = q
                        .bind(&d.id)
                        .bind(&d.org_id)
                        .bind(&d.webhook_id)
                        .bind(d.event_seq)
                        .bind(&d.event_id)
                        .bind(d.status.as_str())
                        .bind(d.next_attempt_at)
                        .bind(&d.lease_owner)
                        .bind(lease_until(d))
                        .bind(d.created_at)
                        .bind(d.created_at)
                        .bind(d.line_seq);
                }
                q.execute(c).await?;
            });
        }
        Ok(())
    }

    /// How many deliveries a webhook holds while paused.
    pub async fn queued_count(&mut self, org_id: &str, webhook_id: &str) -> StoreResult<i64> {
        let sql = queued_count_sql();
        on_tx!(self, c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(webhook_id)
                .bind(org_id)
                .fetch_one(c)
                .await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }
}

fn queued_count_sql() -> String {
    format!(
        "SELECT COUNT(*) AS n FROM delivery_queue WHERE webhook_id = $1 AND status = 'queued' AND {}",
        super::WEBHOOK_OF_ORG
    )
}

/// As [`Tx::queued_count`], on SQLite's writer handle.
pub(crate) fn queued_count_now(
    conn: &rusqlite::Connection,
    org_id: &str,
    webhook_id: &str,
) -> StoreResult<i64> {
    let mut stmt = conn.prepare_cached(&queued_count_sql())?;
    Ok(stmt.query_row(
        rusqlite::named_params! { "$1": webhook_id, "$2": org_id },
        |r| r.get(0),
    )?)
}

/// As [`Tx::insert_deliveries`] on SQLite, a row at a time: with no
/// round trip to pay, one prepared single-row statement is cheapest.
pub(crate) fn insert_deliveries_now(
    conn: &rusqlite::Connection,
    rows: &[NewDelivery],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO deliveries (id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, \
         lease_owner, lease_until, created_at, updated_at, line_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
    )?;
    for d in rows {
        stmt.execute(rusqlite::params![
            d.id,
            d.org_id,
            d.webhook_id,
            d.event_seq,
            d.event_id,
            d.status.as_str(),
            d.next_attempt_at,
            d.lease_owner,
            d.lease_owner.as_ref().and(d.next_attempt_at),
            d.created_at,
            d.line_seq,
        ])?;
    }
    Ok(())
}

impl Tx {
    /// Records a batch of attempts; answers the ids whose state was
    /// recorded (those whose lease `owner` still held). An attempt is
    /// appended to its delivery's `attempt_log` by the same update that sets
    /// the new state: one write of the delivery's row a result. On
    /// PostgreSQL that write changes no indexed column, and the delivery's
    /// `delivery_queue` row is deleted when it is finished, or takes its new
    /// due time and state.
    /// Each statement has one shape whatever the batch holds — the batch
    /// travels as one JSON (SQLite) or array (PostgreSQL) parameter — so it
    /// is prepared once per connection. A delivery turned `queued` for a
    /// pause that a resume has lifted since is recorded pending, due now
    /// ([`Recorded::resumed`]).
    pub async fn complete_many(
        &mut self,
        done: &[Completion],
        owner: &str,
        now: Millis,
    ) -> StoreResult<Recorded> {
        let resumed = self.resumed_since(done).await?;
        let adjusted: Vec<Completion>;
        let done = if resumed.is_empty() {
            done
        } else {
            adjusted = done
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    if resumed.contains(&c.delivery_id) {
                        c.status = DeliveryStatus::Pending;
                        c.next_attempt_at = Some(now);
                    }
                    c
                })
                .collect();
            &adjusted
        };
        let mut recorded = self.record_completions(done, owner, now).await?;
        recorded.resumed = resumed
            .into_iter()
            .filter(|id| recorded.ids.contains(id))
            .collect();
        Ok(recorded)
    }

    /// Of the deliveries a worker turned `queued` without an attempt
    /// (its webhook paused, by the settings it cached, which may be up
    /// to a second old), those whose webhook runs now. A resume that
    /// committed after the worker looked found them still leased, not
    /// queued, and released nothing; queued now they would wait for the
    /// next pause and resume. (A `410 Gone` is queued with its attempt,
    /// and pauses the webhook in the recorder's transaction.) On
    /// PostgreSQL the webhooks' rows are locked first, as a pause or
    /// resume locks its webhook's row before it changes anything: a
    /// resume under way ends before this reads, or starts after this
    /// transaction and releases what it queued.
    async fn resumed_since(
        &mut self,
        done: &[Completion],
    ) -> StoreResult<std::collections::HashSet<String>> {
        let parked: Vec<&str> = done
            .iter()
            .filter(|c| c.status == DeliveryStatus::Queued && c.attempt.is_none())
            .map(|c| c.delivery_id.as_str())
            .collect();
        if parked.is_empty() {
            return Ok(Default::default());
        }
        let rows: std::collections::HashSet<String> = match self {
            Tx::Sqlite(t, _) => {
                sqlx::query(
                    "SELECT d.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.org_id = d.org_id \
                     WHERE d.id IN (SELECT value FROM json_each($1)) AND NOT w.paused",
                )
                .bind(serde_json::to_string(&parked).expect("strings"))
                .fetch_all(&mut **t)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?
            }
            Tx::Postgres(t) => {
                // The lock mode the recorder's health update takes anyway,
                // so it is never upgraded later in the transaction.
                sqlx::query(
                    "SELECT w.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.org_id = d.org_id \
                     WHERE d.id = ANY($1::text[]) ORDER BY w.id FOR NO KEY UPDATE OF w",
                )
                .bind(&parked)
                .execute(&mut **t)
                .await?;
                sqlx::query(
                    "SELECT d.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.org_id = d.org_id \
                     WHERE d.id = ANY($1::text[]) AND NOT w.paused",
                )
                .bind(&parked)
                .fetch_all(&mut **t)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("id"))
                .collect::<Result<_, _>>()?
            }
        };
        Ok(rows)
    }

    async fn record_completions(
        &mut self,
        done: &[Completion],
        owner: &str,
        now: Millis,
    ) -> StoreResult<Recorded> {
        let counted = |c: &Completion| i64::from(c.attempt.is_some());
        let code = |c: &Completion| c.attempt.as_ref().and_then(|a| a.status_code);
        let entry = |c: &Completion| c.attempt.as_ref().map(AttemptRecord::log_entry);
        // The ids the update answered, and which of them are in a FIFO
        // line (row types differ by backend).
        macro_rules! ids {
            ($rows:expr) => {{
                let mut recorded = Recorded::default();
                for r in $rows.iter() {
                    let id: String = r.try_get("id")?;
                    if r.try_get::<bool, _>("in_line")? {
                        recorded.in_line.insert(id.clone());
                    }
                    recorded.ids.insert(id);
                }
                Ok(recorded)
            }};
        }
        match self {
            Tx::Sqlite(t, _) => {
                let states: Vec<serde_json::Value> = done
                    .iter()
                    .map(|c| {
                        serde_json::json!([
                            c.delivery_id,
                            c.status.as_str(),
                            counted(c),
                            c.next_attempt_at,
                            code(c),
                            entry(c)
                        ])
                    })
                    .collect();
                let sql = format!(
                    "UPDATE deliveries SET status = v.value->>1, attempt_count = attempt_count + (v.value->>2), \
                       next_attempt_at = v.value->>3, \
                       last_status_code = CASE WHEN v.value->>2 = 1 THEN v.value->>4 ELSE last_status_code END, \
                       attempt_log = {}, lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                     FROM json_each($1) v WHERE deliveries.id = v.value->>0 AND deliveries.lease_owner = $2 \
                     RETURNING deliveries.id, deliveries.line_seq IS NOT NULL AS in_line",
                    append_attempt("attempt_log", "(v.value->>5)")
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(serde_json::Value::Array(states).to_string())
                    .bind(owner)
                    .bind(now)
                    .fetch_all(&mut **t)
                    .await?;
                ids!(rows)
            }
            Tx::Postgres(t) => {
                // The queue's row is locked and its lease checked by the
                // statement that updates or deletes it; the delivery's row
                // is written only for those. Each table is reached through
                // its primary key by an array of ids (`= ANY`): the queue
                // grows and shrinks faster than its statistics follow, and
                // a join against the batch could be planned as a scan of it.
                let sql = format!(
                    "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[]) \
                       AS v (id, status, counted, next_at, code, entry)), \
                     kept AS (UPDATE delivery_queue q SET status = v.status, next_attempt_at = v.next_at, \
                         lease_owner = NULL, lease_until = NULL \
                       FROM v WHERE q.delivery_id = ANY($9::text[]) AND q.delivery_id = v.id AND q.lease_owner = $8 \
                       RETURNING q.delivery_id, q.line_seq), \
                     gone AS (DELETE FROM delivery_queue q \
                       WHERE q.delivery_id = ANY($10::text[]) AND q.lease_owner = $8 \
                       RETURNING q.delivery_id, q.line_seq) \
                     UPDATE deliveries d SET status = v.status, attempt_count = d.attempt_count + v.counted, \
                       next_attempt_at = v.next_at, \
                       last_status_code = CASE WHEN v.counted = 1 THEN v.code ELSE d.last_status_code END, \
                       attempt_log = {}, updated_at = $7 \
                     FROM v WHERE d.id = ANY(ARRAY(SELECT delivery_id FROM kept UNION ALL SELECT delivery_id FROM gone)) \
                       AND v.id = d.id RETURNING d.id, d.id = ANY(ARRAY( \
                         SELECT delivery_id FROM kept WHERE line_seq IS NOT NULL UNION ALL \
                         SELECT delivery_id FROM gone WHERE line_seq IS NOT NULL)) AS in_line",
                    append_attempt("d.attempt_log", "v.entry")
                );
                // Whatever the statistics say (a queue's lag its size; see
                // above), this transaction reaches rows by key.
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut **t)
                    .await?;
                let ids = |owed: bool| {
                    done.iter()
                        .filter(|c| c.status.is_owed() == owed)
                        .map(|c| c.delivery_id.as_str())
                        .collect::<Vec<_>>()
                };
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(
                        done.iter()
                            .map(|c| c.delivery_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind(done.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
                    .bind(done.iter().map(counted).collect::<Vec<_>>())
                    .bind(done.iter().map(|c| c.next_attempt_at).collect::<Vec<_>>())
                    .bind(done.iter().map(code).collect::<Vec<_>>())
                    .bind(done.iter().map(entry).collect::<Vec<_>>())
                    .bind(now)
                    .bind(owner)
                    .bind(ids(true))
                    .bind(ids(false))
                    .fetch_all(&mut **t)
                    .await?;
                ids!(rows)
            }
        }
    }

    /// Owes again a webhook's deliveries created in `[since, until)` whose
    /// status is one of `statuses` (ended ones: dropped, plugin_failed,
    /// overflowed): same ids, a new attempt due now, or queued when the
    /// webhook is paused. For a `fifo` webhook (`in_line`) they take their
    /// event's place in its line and wait there (the caller moves the
    /// line on). Each is moved once; answers how many.
    #[allow(clippy::too_many_arguments)]
    pub async fn recover_deliveries(
        &mut self,
        org_id: &str,
        webhook_id: &str,
        window: (Millis, Millis),
        statuses: &[DeliveryStatus],
        paused: bool,
        in_line: bool,
        now: Millis,
    ) -> StoreResult<u64> {
        let to = if paused { "queued" } else { "pending" };
        // Due now, unless waiting in a line or queued by a pause.
        let due = (!paused && !in_line).then_some(now);
        let from: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let done = match self {
            Tx::Sqlite(t, _) => {
                // In steps, as `release_queue` does, for the same reason.
                let mut moved = 0;
                loop {
                    let step = sqlx::query(
                        "UPDATE deliveries SET status = $6, next_attempt_at = $9, updated_at = $7, \
                           line_seq = CASE WHEN $10 THEN event_seq END \
                         WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 AND org_id = $2 \
                           AND created_at >= $3 AND created_at < $4 \
                           AND status IN (SELECT value FROM json_each($5)) LIMIT $8)",
                    )
                    .bind(webhook_id)
                    .bind(org_id)
                    .bind(window.0)
                    .bind(window.1)
                    .bind(serde_json::to_string(&from).expect("strings"))
                    .bind(to)
                    .bind(now)
                    .bind(RELEASE_STEP)
                    .bind(due)
                    .bind(in_line)
                    .execute(&mut **t)
                    .await?
                    .rows_affected();
                    moved += step;
                    if step < RELEASE_STEP as u64 {
                        break moved;
                    }
                }
            }
            // What is owed has a row in `delivery_queue` too.
            Tx::Postgres(t) => sqlx::query(
                "WITH moved AS (UPDATE deliveries SET status = $6, next_attempt_at = $8, updated_at = $7 \
                   WHERE webhook_id = $1 AND org_id = $2 AND created_at >= $3 AND created_at < $4 \
                     AND status = ANY($5::text[]) \
                   RETURNING id, webhook_id, created_at, event_seq) \
                 INSERT INTO delivery_queue (delivery_id, webhook_id, status, next_attempt_at, created_at, line_seq) \
                 SELECT id, webhook_id, $6, $8, created_at, CASE WHEN $9 THEN event_seq END FROM moved",
            )
            .bind(webhook_id)
            .bind(org_id)
            .bind(window.0)
            .bind(window.1)
            .bind(&from)
            .bind(to)
            .bind(now)
            .bind(due)
            .bind(in_line)
            .execute(&mut **t)
            .await?
            .rows_affected(),
        };
        Ok(done)
    }

    /// Moves a paused webhook's queue back to pending, oldest first; in a
    /// FIFO line they wait for the line to reach them (the caller moves
    /// it on).
    pub async fn release_queue(
        &mut self,
        org_id: &str,
        webhook_id: &str,
        now: Millis,
    ) -> StoreResult<u64> {
        let done = match self {
            // In steps of `RELEASE_STEP` rows: SQLite keeps each
            // statement's journal (the pages it changed, in case it must
            // be undone alone) in memory (`temp_store = memory`), so one
            // statement releasing 100,000 rows held ~200 MiB until it
            // ended. Each step leaves the partial index of queued rows, so
            // the next finds the rest at once; due order is by creation
            // time, so the steps do not change it.
            Tx::Sqlite(t, _) => {
                let mut released = 0;
                loop {
                    let step = sqlx::query(
                        "UPDATE deliveries SET status = 'pending', updated_at = $3, \
                           next_attempt_at = CASE WHEN line_seq IS NULL THEN created_at END \
                         WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 AND org_id = $2 AND status = 'queued' LIMIT $4)",
                    )
                    .bind(webhook_id)
                    .bind(org_id)
                    .bind(now)
                    .bind(RELEASE_STEP)
                    .execute(&mut **t)
                    .await?
                    .rows_affected();
                    released += step;
                    if step < RELEASE_STEP as u64 {
                        break released;
                    }
                }
            }
            Tx::Postgres(t) => {
                // Due by creation, or, in a FIFO line, waiting for it.
                sqlx::query(
                    "UPDATE deliveries d SET status = 'pending', updated_at = $3, \
                       next_attempt_at = CASE WHEN q.line_seq IS NULL THEN d.created_at END \
                     FROM delivery_queue q WHERE q.delivery_id = d.id AND q.webhook_id = $1 \
                       AND q.status = 'queued' AND d.org_id = $2",
                )
                .bind(webhook_id)
                .bind(org_id)
                .bind(now)
                .execute(&mut **t)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE delivery_queue SET status = 'pending', \
                       next_attempt_at = CASE WHEN line_seq IS NULL THEN created_at END \
                     WHERE webhook_id = $1 AND status = 'queued' AND {}",
                    super::WEBHOOK_OF_ORG
                )))
                .bind(webhook_id)
                .bind(org_id)
                .execute(&mut **t)
                .await?
                .rows_affected()
            }
        };
        Ok(done)
    }
}

impl Store {
    /// Leases up to `limit` due deliveries to `owner` until `lease_until`,
    /// oldest due first. Webhooks in `skip_webhooks` (already at their
    /// in-flight limit) are passed over.
    ///
    /// Paused webhooks are not looked at here: their new deliveries are
    /// stored `queued`, and one already due when the pause came (a retry,
    /// say) is claimed like any other and turned `queued` by the worker,
    /// which reads the webhook anyway. Keeping the webhooks table out of
    /// this query (and out of [`Store::next_due_at`]) lets both run on the
    /// due index alone, however deep the backlog.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: i64,
        skip_webhooks: &[String],
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let lock = if self.backend() == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let skip = if skip_webhooks.is_empty() {
            String::new()
        } else if self.backend() == Backend::Postgres {
            // One shape for any number of webhooks to pass over.
            " AND q.webhook_id <> ALL($5::text[])".to_string()
        } else {
            format!(
                " AND q.webhook_id NOT IN ({})",
                placeholders(5, skip_webhooks.len())
            )
        };
        let (table, key) = self.owed_table();
        let picked = self.owed_picked(&format!(
            "SELECT q.{key} FROM {table} q \
             WHERE q.status IN ('pending', 'retrying') AND q.next_attempt_at <= $3 \
               AND (q.lease_until IS NULL OR q.lease_until <= $3){skip} \
             ORDER BY q.next_attempt_at, q.{key} LIMIT $4{lock}"
        ));
        let lease = format!(
            "UPDATE {table} SET lease_owner = $1, lease_until = $2, next_attempt_at = $2 WHERE {picked}"
        );
        // What sending needs, for the deliveries leased (`d` names them).
        let sending = |d: &str| {
            format!(
                "{d}.id AS id, {d}.org_id AS org_id, {d}.webhook_id AS webhook_id, \
                 {d}.event_id AS event_id, {d}.attempt_count AS attempt_count, \
                 (SELECT w.version FROM webhooks w WHERE w.id = {d}.webhook_id) AS webhook_version, \
                 (SELECT e.action FROM events e WHERE e.seq = {d}.event_seq) AS action, \
                 (SELECT e.body FROM events e WHERE e.seq = {d}.event_seq) AS body, \
                 (SELECT e.trace_parent FROM events e WHERE e.seq = {d}.event_seq) AS trace_parent"
            )
        };
        macro_rules! decode_claimed {
            ($rows:expr) => {
                $rows
                    .iter()
                    .map(|r| {
                        Ok(ClaimedDelivery {
                            id: r.try_get("id")?,
                            org_id: r.try_get("org_id")?,
                            webhook_id: r.try_get("webhook_id")?,
                            webhook_version: r.try_get("webhook_version")?,
                            event_id: r.try_get("event_id")?,
                            action: r.try_get("action")?,
                            body: r.try_get::<String, _>("body")?.into(),
                            attempt_count: r.try_get("attempt_count")?,
                            lane_bytes: 0,
                            trace: r
                                .try_get::<Option<&str>, _>("trace_parent")?
                                .and_then(crate::traces::TraceParent::parse),
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?
            };
        }
        let mut out = match self {
            // A lease is bookkeeping: on SQLite it need not reach the disk
            // before the work goes on (leases are released at every start).
            // The lease is written in the delivery's own row there.
            Store::Sqlite { write, .. } => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{lease} RETURNING {}",
                    sending("deliveries")
                )))
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(limit);
                for id in skip_webhooks {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(write).await?;
                decode_claimed!(rows)
            }
            // The lease is written in the queue; each delivery leased is
            // then read through its primary key.
            Store::Postgres(pool) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH c AS ({lease} RETURNING delivery_id) \
                     SELECT {} FROM c CROSS JOIN LATERAL \
                       (SELECT * FROM deliveries WHERE id = c.delivery_id) d",
                    sending("d")
                )))
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(limit);
                if !skip_webhooks.is_empty() {
                    q = q.bind(skip_webhooks);
                }
                let rows = q.fetch_all(pool).await?;
                decode_claimed!(rows)
            }
        };
        // RETURNING gives no order guarantee; keep oldest first.
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The earliest time any delivery falls due (see [`Store::claim_due`]
    /// on paused webhooks).
    pub async fn next_due_at(&self) -> StoreResult<Option<Millis>> {
        on_read!(self, p => {
            let row = sqlx::query(
                "SELECT MIN(next_attempt_at) AS t FROM delivery_queue WHERE status IN ('pending', 'retrying')",
            )
            .fetch_one(p)
            .await?;
            Ok(row.try_get::<Option<i64>, _>("t")?)
        })
    }

    /// Forgets every lease: on SQLite only one process owns the file, so at
    /// start nothing can still be in flight.
    pub async fn release_all_leases(&self, now: Millis) -> StoreResult<u64> {
        on_write!(self, p => {
            // Leased rows wait until their lease ends; make them due now
            // (never-tried ones by creation time, so the oldest go first).
            let (table, key) = self.owed_table();
            let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET lease_owner = NULL, lease_until = NULL, next_attempt_at = {} \
                 WHERE lease_owner IS NOT NULL AND status IN ('pending', 'retrying')",
                unleased_due(table, key)
            )))
            .bind(now)
            .execute(p)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
            )))
            .execute(p)
            .await?;
            Ok(done.rows_affected())
        })
    }

    pub async fn get_delivery(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>> {
        let sql =
            format!("SELECT {COLUMNS}, attempt_log FROM deliveries WHERE id = $1 AND org_id = $2");
        on_read!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(org_id).fetch_optional(p).await?;
            let Some(row) = row else { return Ok(None) };
            let delivery = decode!(&row)?;
            let attempts = AttemptRecord::parse_log(&row.try_get::<String, _>("attempt_log")?)?;
            Ok(Some((delivery, attempts)))
        })
    }

    /// A page of a webhook's deliveries, newest first, before `before_id`.
    pub async fn list_deliveries(
        &self,
        org_id: &str,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        before_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        on_read!(self, p => {
            let mut b = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM deliveries WHERE org_id = "));
            b.push_bind(org_id).push(" AND webhook_id = ").push_bind(webhook_id);
            if let Some(s) = status {
                b.push(" AND status = ").push_bind(s.as_str());
            }
            if let Some(before) = before_id {
                b.push(" AND id < ").push_bind(before);
            }
            b.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
            let rows = b.build().fetch_all(p).await?;
            rows.iter().map(|r| decode!(r)).collect()
        })
    }

    /// Deliveries still owed across the store, by status (`pending`,
    /// `retrying`, `queued`; each present, 0 when none). Read from
    /// `delivery_queue`, so a scrape costs the size of the queue, not of
    /// the whole delivery log.
    pub async fn count_owed_deliveries(&self) -> StoreResult<Vec<(String, i64)>> {
        let counted: Vec<(String, i64)> = on_read!(self, p => {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) AS n FROM delivery_queue GROUP BY status",
            )
            .fetch_all(p)
            .await?;
            rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect::<StoreResult<Vec<_>>>()?
        });
        Ok([
            DeliveryStatus::Pending,
            DeliveryStatus::Retrying,
            DeliveryStatus::Queued,
        ]
        .into_iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|(c, _)| c == s.as_str())
                .map_or(0, |(_, n)| *n);
            (s.as_str().to_string(), n)
        })
        .collect())
    }
}
