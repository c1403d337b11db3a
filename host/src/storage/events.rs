//! Events: the audit log, and the source of every delivery.

use sqlx::Row;

use super::deliveries::{DeliveryStatus, NewDelivery};
use super::{Params, Store, StoreResult, Tx, on_read, on_tx};
use crate::clock::Millis;
use crate::domain::Event;
use crate::traces::TraceParent;

/// Audit log query, every part optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub category: Option<String>,
    pub action: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Only events older (lower sequence) than this.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A stored event with its position in the log.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub body: String,
}

impl Tx {
    /// Stores events in multi-row statements; answers, in order, each one's
    /// sequence number, or `None` for an id already known in the
    /// organisation (also when it repeats within `events`: the first wins).
    /// Each event is stored with the trace its deliveries continue, if any.
    pub async fn insert_events(
        &mut self,
        org_id: &str,
        events: &[(&Event, &str, Option<TraceParent>)],
        now: Millis,
    ) -> StoreResult<Vec<Option<i64>>> {
        if let Tx::Postgres(t) = self {
            // One shape whatever the count: prepared once per connection.
            let rows = sqlx::query(
                "INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, trace_parent, received_at) \
                 SELECT $1, v.*, $8 FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[]) \
                   AS v (event_id, ts, category, action, user_id, body, trace_parent) \
                 ON CONFLICT (org_id, event_id) DO NOTHING RETURNING seq, event_id",
            )
            .bind(org_id)
            .bind(events.iter().map(|(e, ..)| e.event_id.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|(e, ..)| e.timestamp_ms()).collect::<Vec<_>>())
            .bind(events.iter().map(|(e, ..)| e.category.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|(e, ..)| e.action.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|(e, ..)| e.user_id.as_deref()).collect::<Vec<_>>())
            .bind(events.iter().map(|(_, b, _)| *b).collect::<Vec<_>>())
            .bind(now)
            .bind(events.iter().map(|(.., t)| t.map(|t| t.to_string())).collect::<Vec<_>>())
            .fetch_all(&mut **t)
            .await?;
            let mut stored: std::collections::HashMap<String, i64> = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<String, _>("event_id")?,
                        r.try_get::<i64, _>("seq")?,
                    ))
                })
                .collect::<StoreResult<_>>()?;
            // RETURNING has no order; match rows by id, each once.
            return Ok(events
                .iter()
                .map(|(e, ..)| stored.remove(&e.event_id))
                .collect());
        }
        const COLS: usize = 9;
        let mut out = Vec::with_capacity(events.len());
        for chunk in events.chunks(250) {
            let mut p = Params::new(self.backend());
            let values = p.rows(chunk.len(), COLS);
            let sql = format!(
                "INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, received_at, trace_parent) \
                 VALUES {values} ON CONFLICT (org_id, event_id) DO NOTHING RETURNING seq, event_id"
            );
            let mut stored: std::collections::HashMap<String, i64> = on_tx!(self, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (event, body, trace) in chunk {
                    q = q
                        .bind(org_id)
                        .bind(&event.event_id)
                        .bind(event.timestamp_ms())
                        .bind(event.category.as_str())
                        .bind(&event.action)
                        .bind(&event.user_id)
                        .bind(*body)
                        .bind(now)
                        .bind(trace.map(|t| t.to_string()));
                }
                q.fetch_all(&mut *c)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get::<String, _>("event_id")?, r.try_get::<i64, _>("seq")?)))
                    .collect::<StoreResult<_>>()?
            });
            // RETURNING has no order; match rows by id, each once.
            out.extend(chunk.iter().map(|(e, ..)| stored.remove(&e.event_id)));
        }
        Ok(out)
    }
}

/// As [`Tx::insert_events`] on SQLite, a row at a time.
pub(crate) fn insert_events_now(
    conn: &rusqlite::Connection,
    org_id: &str,
    events: &[(&Event, &str, Option<TraceParent>)],
    now: Millis,
) -> StoreResult<Vec<Option<i64>>> {
    // No `RETURNING`: SQLite collects returned rows in a temporary table
    // it opens and drops each time; a new row's `seq` is the rowid SQLite
    // just assigned, read from the connection.
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, received_at, trace_parent) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (org_id, event_id) DO NOTHING",
    )?;
    events
        .iter()
        .map(|(event, body, trace)| {
            let params = rusqlite::params![
                org_id,
                event.event_id,
                event.timestamp_ms(),
                event.category.as_str(),
                event.action,
                event.user_id,
                body,
                now,
                trace.map(|t| t.to_string()),
            ];
            Ok(match stmt.execute(params)? {
                0 => None,
                _ => Some(conn.last_insert_rowid()),
            })
        })
        .collect()
}

impl Tx {
    /// Stores an event unless its id is already known in the organisation;
    /// returns its sequence number when it is new.
    pub async fn insert_event(
        &mut self,
        org_id: &str,
        event: &Event,
        body: &str,
        now: Millis,
    ) -> StoreResult<Option<i64>> {
        on_tx!(self, c => {
            let row = sqlx::query(
                "INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, event_id) DO NOTHING RETURNING seq",
            )
            .bind(org_id)
            .bind(&event.event_id)
            .bind(event.timestamp_ms())
            .bind(event.category.as_str())
            .bind(&event.action)
            .bind(&event.user_id)
            .bind(body)
            .bind(now)
            .fetch_optional(c)
            .await?;
            Ok(match row {
                Some(r) => Some(r.try_get::<i64, _>("seq")?),
                None => None,
            })
        })
    }
}

/// An event to store in [`Store::insert_events_at_once`].
pub struct EventRow<'a> {
    pub org_id: &'a str,
    pub event: &'a Event,
    pub body: &'a str,
    pub trace: Option<TraceParent>,
}

impl Store {
    /// PostgreSQL: stores `events` (of any organisations, no (organisation,
    /// id) twice) and, for each one newly stored, its deliveries among
    /// `deliveries` (pending and not in a FIFO line; matched to their event
    /// by organisation and event id, their `event_seq` ignored), in one
    /// statement, which is its own transaction: committed, and durable,
    /// when this returns. The deliveries were planned from `expected`, the
    /// webhooks of the organisations `orgs` as (organisation, id, version),
    /// for requests authenticated with `keys` (organisation, key id); the
    /// statement writes only if, in its own snapshot, those are exactly
    /// the organisations' webhooks and every key is unrevoked — the
    /// check a read in the same transaction would have made — and answers
    /// `None` when they are not, having written nothing. Otherwise answers
    /// the (organisation, event id) of the events stored; the others were
    /// known already and got no delivery.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_events_at_once(
        conn: &mut sqlx::PgConnection,
        orgs: &[&str],
        expected: &[(&str, &str, i64)],
        keys: &[(&str, &str)],
        events: &[EventRow<'_>],
        deliveries: &[NewDelivery],
        now: Millis,
    ) -> StoreResult<Option<Vec<(String, String)>>> {
        debug_assert!(
            deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Pending && d.line_seq.is_none())
        );
        // One shape whatever the counts: prepared once per connection. The
        // deliveries' foreign keys are checked at the statement's end, when
        // the events it inserted are there. (A webhook's `version` moves
        // with every change of its settings or pause; ids are never reused.)
        let rows = sqlx::query(
            "WITH ok AS (SELECT \
               (SELECT count(*) FROM webhooks WHERE org_id = ANY($17::text[])) = cardinality($19::text[]) \
               AND (SELECT count(*) FROM webhooks w JOIN unnest($18::text[], $19::text[], $20::int8[]) AS c (org_id, id, version) \
                   ON w.id = c.id AND w.org_id = c.org_id AND w.version = c.version) = cardinality($19::text[]) \
               AND (SELECT count(*) FROM api_keys k JOIN unnest($21::text[], $22::text[]) AS q (org_id, id) \
                   ON k.id = q.id AND k.org_id = q.org_id WHERE k.revoked_at IS NULL) = cardinality($22::text[]) AS ok), \
             ev AS (INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, trace_parent, received_at) \
               SELECT v.*, $9 FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
                 AS v (org_id, event_id, ts, category, action, user_id, body, trace_parent) WHERE (SELECT ok FROM ok) \
               ON CONFLICT (org_id, event_id) DO NOTHING RETURNING seq, org_id, event_id), \
             d AS (SELECT x.*, ev.seq FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[], $16::int8[]) \
                 AS x (id, org_id, webhook_id, event_id, next_attempt_at, lease_owner, lease_until) \
               JOIN ev ON ev.org_id = x.org_id AND ev.event_id = x.event_id), \
             owed AS (INSERT INTO delivery_queue (delivery_id, webhook_id, status, next_attempt_at, lease_owner, lease_until, created_at) \
               SELECT id, webhook_id, 'pending', next_attempt_at, lease_owner, lease_until, $9 FROM d), \
             made AS (INSERT INTO deliveries (id, org_id, webhook_id, event_seq, event_id, status, next_attempt_at, created_at, updated_at) \
               SELECT id, org_id, webhook_id, seq, event_id, 'pending', next_attempt_at, $9, $9 FROM d) \
             SELECT ok.ok, ev.org_id, ev.event_id FROM ok LEFT JOIN ev ON TRUE",
        )
        .bind(events.iter().map(|e| e.org_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event.event_id.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event.timestamp_ms()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event.category.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event.user_id.as_deref()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.body).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.trace.map(|t| t.to_string())).collect::<Vec<_>>())
        .bind(now)
        .bind(deliveries.iter().map(|d| d.id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.org_id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.webhook_id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.next_attempt_at).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|d| d.lease_owner.as_deref()).collect::<Vec<_>>())
        .bind(
            deliveries
                .iter()
                .map(|d| d.lease_owner.as_ref().and(d.next_attempt_at))
                .collect::<Vec<_>>(),
        )
        .bind(orgs)
        .bind(expected.iter().map(|w| w.0).collect::<Vec<_>>())
        .bind(expected.iter().map(|w| w.1).collect::<Vec<_>>())
        .bind(expected.iter().map(|w| w.2).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?;
        let Some(first) = rows.first() else {
            return Err(super::StoreError::Corrupt(
                "the ingest statement answered no row".into(),
            ));
        };
        if !first.try_get::<bool, _>("ok")? {
            return Ok(None);
        }
        let mut stored = Vec::with_capacity(rows.len());
        for r in &rows {
            if let (Some(org), Some(id)) = (
                r.try_get::<Option<String>, _>("org_id")?,
                r.try_get::<Option<String>, _>("event_id")?,
            ) {
                stored.push((org, id));
            }
        }
        Ok(Some(stored))
    }

    /// Newest first, filtered, one page.
    pub async fn audit_events(
        &self,
        org_id: &str,
        q: &AuditQuery,
    ) -> StoreResult<Vec<StoredEvent>> {
        on_read!(self, p => {
            let mut b = sqlx::QueryBuilder::new("SELECT seq, body FROM events WHERE org_id = ");
            b.push_bind(org_id);
            if let Some(v) = &q.category {
                b.push(" AND category = ").push_bind(v);
            }
            if let Some(v) = &q.action {
                b.push(" AND action = ").push_bind(v);
            }
            if let Some(v) = &q.user_id {
                b.push(" AND user_id = ").push_bind(v);
            }
            if let Some(v) = q.since {
                b.push(" AND ts >= ").push_bind(v);
            }
            if let Some(v) = q.until {
                b.push(" AND ts < ").push_bind(v);
            }
            if let Some(v) = q.before_seq {
                b.push(" AND seq < ").push_bind(v);
            }
            b.push(" ORDER BY seq DESC LIMIT ").push_bind(q.limit);
            let rows = b.build().fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok(StoredEvent { seq: r.try_get("seq")?, body: r.try_get("body")? }))
                .collect()
        })
    }

    /// One event by its id within an organisation.
    pub async fn get_event(
        &self,
        org_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        on_read!(self, p => {
            let row = sqlx::query("SELECT seq, body FROM events WHERE org_id = $1 AND event_id = $2")
                .bind(org_id)
                .bind(event_id)
                .fetch_optional(p)
                .await?;
            match row {
                Some(r) => Ok(Some(StoredEvent { seq: r.try_get("seq")?, body: r.try_get("body")? })),
                None => Ok(None),
            }
        })
    }
}
