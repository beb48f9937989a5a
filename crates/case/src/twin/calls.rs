// The call path's writes, many calls' in one transaction (see `crate::writer`): the writer
// task and its statements, the same text for both databases, included by `sqlite/calls.rs`
// and `postgres/calls.rs` after their header (`Conn`, `Db`, `Options`, `BEGIN_WRITE`,
// `LOCK_CALL`).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::error::ErrorKind;
use sqlx::{Connection, QueryBuilder};

use super::{insert_event, kind, Conn, Db, ACD_COLUMNS, BEGIN_WRITE, SYSTEM_ACTOR};
use crate::acd::AcdStep;
use crate::error::CaseError;
use crate::model::{
    CallId, CaseId, CaseStatus, Channel, Direction, NewCall, NewRecording, OpenedCall, RecordingId,
};
use crate::rows::AcdState;
use crate::ticket;
use crate::writer::{Done, Job, Outcome, OwnedAgentEvent, Queue, Write};

/// The writer task of one database: one connection of its own, opened on first use and
/// opened again after a database error, so a connection left in a bad state (SQLite rolls
/// a transaction back by itself on a full disk) is never reused.
pub(crate) async fn run_writer(options: Options, mut queue: Queue) {
    let mut conn: Option<Conn> = None;
    while let Some(mut batch) = queue.next_batch().await {
        while !batch.is_empty() {
            let started = Instant::now();
            let outcome = match conn.as_mut() {
                Some(c) => write_batch(c, &batch).await,
                None => match Conn::connect_with(&options).await {
                    Ok(c) => write_batch(conn.insert(c), &batch).await,
                    Err(e) => Outcome::Failed(e.into()),
                },
            };
            let database_failed = match &outcome {
                Outcome::Failed(_) => true,
                Outcome::JobsFailed(_, e) => matches!(e, CaseError::Database(_)),
                Outcome::Committed(_) => false,
            };
            if database_failed {
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
            }
            batch = queue.settle(batch, outcome, started.elapsed());
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// Writes `jobs` in one transaction: the new calls together (a few statements for all
/// of them), then each other write.
async fn write_batch(conn: &mut Conn, jobs: &[Job]) -> Outcome {
    let mut tx = match conn.begin_with(BEGIN_WRITE).await {
        Ok(tx) => tx,
        Err(e) => return Outcome::Failed(e.into()),
    };
    let mut done: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
    let opens: Vec<(usize, &NewCall, Option<&str>)> = jobs
        .iter()
        .enumerate()
        .filter_map(|(i, j)| match &j.write {
            Write::OpenCall { call, node } => Some((i, call, node.as_deref())),
            _ => None,
        })
        .collect();
    if !opens.is_empty() {
        let calls: Vec<(&NewCall, Option<&str>)> = opens.iter().map(|(_, c, n)| (*c, *n)).collect();
        match open_calls(&mut tx, &calls).await {
            Ok(opened) => {
                for ((i, _, _), o) in opens.iter().zip(opened) {
                    done[*i] = Some(Done::Opened(o));
                }
            }
            Err(e) => return Outcome::JobsFailed(opens.iter().map(|o| o.0).collect(), e),
        }
    }
    // The ends of calls, together: at a few hundred calls a second a batch holds a few, and
    // each statement is a round trip to the database's thread. The first end of each call
    // only; a second one goes on below, where `end_call` says it ended already.
    let mut seen = HashSet::new();
    let ends: Vec<(usize, &Write)> = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| matches!(&j.write, Write::EndCall { call, .. } if seen.insert(*call)))
        .map(|(i, j)| (i, &j.write))
        .collect();
    if !ends.is_empty() {
        match end_calls(&mut tx, ends.iter().map(|(_, w)| *w)).await {
            Ok(ended) => {
                for (i, w) in &ends {
                    if matches!(w, Write::EndCall { call, .. } if ended.contains(&call.0)) {
                        done[*i] = Some(Done::Written);
                    }
                }
            }
            Err(e) => return Outcome::JobsFailed(ends.iter().map(|(i, _)| *i).collect(), e),
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        if done[i].is_some() {
            continue;
        }
        match write_one(&mut tx, &job.write).await {
            Ok(d) => done[i] = Some(d),
            Err(e) => return Outcome::JobsFailed(vec![i], e),
        }
    }
    if let Err(e) = tx.commit().await {
        return Outcome::Failed(e.into());
    }
    Outcome::Committed(done.into_iter().map(|d| d.unwrap_or(Done::Written)).collect())
}

async fn write_one(conn: &mut Conn, write: &Write) -> Result<Done, CaseError> {
    match write {
        Write::OpenCall { call, node } => {
            let opened = open_calls(conn, &[(call, node.as_deref())]).await?;
            let o = opened.into_iter().next();
            o.map(Done::Opened).ok_or_else(|| CaseError::Corrupt("no call opened".into()))
        }
        Write::EndCall { call, ended_at, cause, ivr_path } => {
            end_call(conn, *call, *ended_at, cause, ivr_path).await?;
            Ok(Done::Written)
        }
        Write::MissedCall(m) => {
            sqlx::query(
                "INSERT INTO missed_calls (sip_call_id, caller_number, called_number, arrived_at, \
                 ended_at, cause) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&m.sip_call_id)
            .bind(&m.caller_number)
            .bind(&m.called_number)
            .bind(m.arrived_at)
            .bind(m.ended_at)
            .bind(&m.cause)
            .execute(&mut *conn)
            .await?;
            Ok(Done::Written)
        }
        Write::Acd { call, step, at } => {
            acd_step(conn, *call, step.step(), *at).await?;
            Ok(Done::Written)
        }
        Write::Recording(r) => Ok(Done::Recording(add_recording(conn, r).await?)),
        Write::AgentEvent(e) => {
            record_agent_event(conn, e).await?;
            Ok(Done::Written)
        }
    }
}

/// Opens calls: the day's ticket numbers reserved by one statement per local day, then
/// every case, call row and `opened` event inserted by one statement each.
async fn open_calls(
    conn: &mut Conn,
    calls: &[(&NewCall, Option<&str>)],
) -> Result<Vec<OpenedCall>, CaseError> {
    let mut tickets: Vec<String> = vec![String::new(); calls.len()];
    let mut days: Vec<chrono::NaiveDate> = calls.iter().map(|(c, _)| c.local_day).collect();
    days.sort();
    days.dedup();
    for day in days {
        let of_day: Vec<usize> = (0..calls.len())
            .filter(|&i| calls[i].0.local_day == day)
            .collect();
        let n = of_day.len() as i64;
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO ticket_sequences (day, last) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + $2 \
             RETURNING last",
        )
        .bind(ticket::day_key(day))
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
        for (k, i) in of_day.into_iter().enumerate() {
            let seq = last - n + 1 + k as i64;
            let seq = u32::try_from(seq)
                .map_err(|_| CaseError::Corrupt(format!("ticket sequence {seq}")))?;
            tickets[i] = ticket::format(day, seq);
        }
    }

    let mut q = QueryBuilder::<Db>::new(
        "INSERT INTO cases (ticket, channel, status, caller_number, created_at, updated_at) ",
    );
    q.push_values(calls.iter().zip(&tickets), |mut b, ((c, _), t)| {
        b.push_bind(t.as_str())
            .push_bind(Channel::Phone.as_str())
            .push_bind(CaseStatus::NoRequest.as_str())
            .push_bind(c.caller_number.as_str())
            .push_bind(c.answered_at)
            .push_bind(c.answered_at);
    });
    q.push(" RETURNING id, ticket");
    let cases: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *conn).await?;
    let case_of: HashMap<&str, i64> = cases.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    let case_ids = tickets
        .iter()
        .map(|t| case_of.get(t.as_str()).copied())
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| CaseError::Corrupt("a case inserted without its id".into()))?;

    let mut q = QueryBuilder::<Db>::new(
        "INSERT INTO calls (case_id, sip_call_id, caller_number, called_number, direction, \
         arrived_at, answered_at, node) ",
    );
    q.push_values(calls.iter().zip(&case_ids), |mut b, ((c, node), case)| {
        b.push_bind(*case)
            .push_bind(c.sip_call_id.as_str())
            .push_bind(c.caller_number.as_str())
            .push_bind(c.called_number.as_str())
            .push_bind(Direction::Inbound.as_str())
            .push_bind(c.arrived_at)
            .push_bind(c.answered_at)
            .push_bind(*node);
    });
    q.push(" RETURNING id, case_id");
    let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *conn).await?;
    let call_of: HashMap<i64, i64> = rows.into_iter().map(|(id, case)| (case, id)).collect();

    let mut q = QueryBuilder::<Db>::new(
        "INSERT INTO case_events (case_id, at, actor, event, from_status, to_status, note) ",
    );
    q.push_values(calls.iter().zip(&case_ids), |mut b, ((c, _), case)| {
        b.push_bind(*case)
            .push_bind(c.answered_at)
            .push_bind(SYSTEM_ACTOR)
            .push_bind("opened")
            .push_bind(None::<&str>)
            .push_bind(CaseStatus::NoRequest.as_str())
            .push_bind(None::<&str>);
    });
    q.build().execute(&mut *conn).await?;

    tickets
        .into_iter()
        .zip(case_ids)
        .map(|(ticket, case)| {
            let call = call_of
                .get(&case)
                .copied()
                .ok_or_else(|| CaseError::Corrupt("a call inserted without its id".into()))?;
            Ok(OpenedCall {
                call: CallId(call),
                case: CaseId(case),
                ticket,
            })
        })
        .collect()
}

/// Ends the calls of the `EndCall` writes `ends` (each call once) with one statement and
/// returns the ids of the calls it ended. A call it did not end (ended already, unknown) is
/// left to [`end_call`], which says which.
async fn end_calls<'a>(
    conn: &mut Conn,
    ends: impl Iterator<Item = &'a Write>,
) -> Result<HashSet<i64>, CaseError> {
    let mut q = QueryBuilder::<Db>::new(
        "UPDATE calls SET ended_at = v.column2, hangup_cause = v.column3, ivr_path = v.column4 \
         FROM (",
    );
    // A VALUES list names its columns column1, column2, … in both databases.
    q.push_values(ends, |mut b, w| {
        if let Write::EndCall { call, ended_at, cause, ivr_path } = w {
            b.push_bind(call.0)
                .push_bind(*ended_at)
                .push_bind(cause.as_str())
                .push_bind(ivr_path.as_str());
        }
    });
    q.push(") AS v WHERE calls.id = v.column1 AND calls.ended_at IS NULL RETURNING calls.id");
    let ended: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await?;
    Ok(ended.into_iter().collect())
}

async fn end_call(
    conn: &mut Conn,
    call: CallId,
    ended_at: DateTime<Utc>,
    cause: &str,
    ivr_path: &str,
) -> Result<(), CaseError> {
    let done = sqlx::query(
        "UPDATE calls SET ended_at = $1, hangup_cause = $2, ivr_path = $3 \
         WHERE id = $4 AND ended_at IS NULL",
    )
    .bind(ended_at)
    .bind(cause)
    .bind(ivr_path)
    .bind(call.0)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM calls WHERE id = $1")
        .bind(call.0)
        .fetch_optional(&mut *conn)
        .await?;
    Err(match exists {
        Some(_) => CaseError::CallAlreadyEnded(call),
        None => CaseError::CallNotFound(call),
    })
}

async fn add_recording(conn: &mut Conn, r: &NewRecording) -> Result<RecordingId, CaseError> {
    let duration_ms =
        i64::try_from(r.duration_ms).map_err(|_| CaseError::OutOfRange("duration_ms"))?;
    let bytes = i64::try_from(r.bytes).map_err(|_| CaseError::OutOfRange("bytes"))?;
    let owner: Option<i64> = sqlx::query_scalar("SELECT case_id FROM calls WHERE id = $1")
        .bind(r.call.0)
        .fetch_optional(&mut *conn)
        .await?;
    match owner {
        None => return Err(CaseError::CallNotFound(r.call)),
        Some(owner) if owner != r.case.0 => {
            return Err(CaseError::CallNotInCase {
                call: r.call,
                case: r.case,
            })
        }
        Some(_) => {}
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recordings (call_id, case_id, kind, path, duration_ms, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(r.call.0)
    .bind(r.case.0)
    .bind(r.kind.as_str())
    .bind(&r.path)
    .bind(duration_ms)
    .bind(bytes)
    .bind(r.created_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(RecordingId(id))
}

async fn record_agent_event(conn: &mut Conn, e: &OwnedAgentEvent) -> Result<(), CaseError> {
    sqlx::query(
        "INSERT INTO agent_events (extension, at, from_state, to_state, reason, sip_call_id, \
         actor) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&e.extension)
    .bind(e.at)
    .bind(&e.from)
    .bind(&e.to)
    .bind(&e.reason)
    .bind(&e.sip_call_id)
    .bind(&e.actor)
    .execute(&mut *conn)
    .await
    .map_err(|err| match kind(&err) {
        Some(ErrorKind::ForeignKeyViolation) => CaseError::AgentNotFound(e.extension.clone()),
        _ => err.into(),
    })?;
    Ok(())
}

/// Applies one ACD step to a call row (see [`crate::acd`]) and writes its audit event.
async fn acd_step(
    conn: &mut Conn,
    call: CallId,
    step: AcdStep<'_>,
    at: DateTime<Utc>,
) -> Result<(), CaseError> {
    let state: Option<AcdState> = sqlx::query_as(&format!(
        "SELECT case_id, direction, {ACD_COLUMNS} FROM calls WHERE id = $1{LOCK_CALL}"
    ))
    .bind(call.0)
    .fetch_optional(&mut *conn)
    .await?;
    let AcdState {
        case_id,
        direction,
        mut acd,
    } = state.ok_or(CaseError::CallNotFound(call))?;
    let outbound = direction == Direction::Outbound.as_str();
    let answered = matches!(step, AcdStep::Answered { .. });
    let audit = acd.advance(call, step, at, outbound)?;
    sqlx::query(
        "UPDATE calls SET queue = $1, agent = $2, agent_call_id = $3, queued_at = $4, \
         offered_count = $5, rejected_count = $6, agent_answered_at = $7, agent_ended_at = $8, \
         wrap_up_ended_at = $9, acd_result = $10, wait_ms = $11, talk_ms = $12, wrap_up_ms = $13 \
         WHERE id = $14",
    )
    .bind(&acd.queue)
    .bind(&acd.agent)
    .bind(&acd.agent_call_id)
    .bind(acd.queued_at)
    .bind(acd.offered_count)
    .bind(acd.rejected_count)
    .bind(acd.agent_answered_at)
    .bind(acd.agent_ended_at)
    .bind(acd.wrap_up_ended_at)
    .bind(&acd.acd_result)
    .bind(acd.wait_ms)
    .bind(acd.talk_ms)
    .bind(acd.wrap_up_ms)
    .bind(call.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| match (kind(&e), &acd.agent) {
        (Some(ErrorKind::ForeignKeyViolation), Some(agent)) => {
            CaseError::AgentNotFound(agent.clone())
        }
        _ => e.into(),
    })?;
    if let Some((event, note)) = audit {
        insert_event(conn, case_id, at, SYSTEM_ACTOR, event, None, None, Some(&note)).await?;
    }
    if answered {
        super::work::register_on_answer(conn, case_id, at).await?;
    }
    Ok(())
}
