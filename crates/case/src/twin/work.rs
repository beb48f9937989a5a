// The statements and logic shared by `sqlite/work.rs` and `postgres/work.rs`, included
// by both after their backend-specific header (types, locks, how transactions start).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::error::ErrorKind;
use sqlx::QueryBuilder;

use super::{insert_event, kind, next_ticket, Backend, Conn, Db};
use crate::calendar::{DeadlinePolicy, WorkCalendar};
use crate::error::CaseError;
use crate::lifecycle::{Action, CaseState, Role, Satisfaction};
use crate::model::{
    Actor, CallId, CaseDetail, CaseFields, CaseId, CaseQuery, CaseSummary, Category, Department,
    NewDepartment, NewUser, RecordingId, User, UserId,
};
use crate::rows::{
    self, convert_all, CallRecord, CaseRecord, DepartmentRecord, EventRecord, ExtensionRecord,
    RecordingRecord, UserRecord, CASE_SELECT, DEPARTMENT_SELECT, EXTENSION_SELECT, USER_SELECT,
};
use crate::workflow::{self, CheckedCase, ExtensionChange, Lookups};

/// The states in which nothing more happens to a case.
const FINAL_STATES: &str = "('answered', 'forwarded', 'closed')";

impl Backend {
    pub(crate) async fn add_department(
        &self,
        d: &NewDepartment,
        now: DateTime<Utc>,
    ) -> Result<Department, CaseError> {
        let mut tx = self.write_tx().await?;
        let parent = match &d.parent {
            Some(code) => {
                let p = department_record(&mut tx, code)
                    .await?
                    .ok_or_else(|| CaseError::DepartmentNotFound(code.clone()))?;
                if i64::from(d.level) <= p.level {
                    return Err(CaseError::InvalidField {
                        field: "level",
                        reason: format!(
                            "a level {} unit cannot be below a level {} unit",
                            d.level, p.level
                        ),
                    });
                }
                Some(p.id)
            }
            None => None,
        };
        sqlx::query(
            "INSERT INTO departments (code, name, parent_id, level, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.code)
        .bind(d.name.trim())
        .bind(parent)
        .bind(i64::from(d.level))
        .bind(true)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match kind(&e) {
            Some(ErrorKind::UniqueViolation) => CaseError::DepartmentExists(d.code.clone()),
            _ => e.into(),
        })?;
        let added = department_record(&mut tx, &d.code)
            .await?
            .ok_or_else(|| CaseError::DepartmentNotFound(d.code.clone()))?;
        tx.commit().await?;
        added.try_into()
    }

    pub(crate) async fn departments(&self) -> Result<Vec<Department>, CaseError> {
        let all: Vec<DepartmentRecord> = sqlx::query_as(DEPARTMENT_SELECT)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::tree_order(convert_all(all)?))
    }

    pub(crate) async fn department(&self, code: &str) -> Result<Option<Department>, CaseError> {
        let mut conn = self.pool.acquire().await?;
        department_record(&mut conn, code)
            .await?
            .map(Department::try_from)
            .transpose()
    }

    pub(crate) async fn set_department_active(
        &self,
        code: &str,
        active: bool,
    ) -> Result<Department, CaseError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE departments SET active = $1 WHERE code = $2")
            .bind(active)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        let d = department_record(&mut tx, code)
            .await?
            .ok_or_else(|| CaseError::DepartmentNotFound(code.to_owned()))?;
        tx.commit().await?;
        d.try_into()
    }

    pub(crate) async fn is_within(&self, child: &str, ancestor: &str) -> Result<bool, CaseError> {
        let mut conn = self.pool.acquire().await?;
        let (Some(c), Some(a)) = (
            department_record(&mut conn, child).await?,
            department_record(&mut conn, ancestor).await?,
        ) else {
            return Ok(false);
        };
        within(&mut conn, c.id, a.id).await
    }

    pub(crate) async fn case_detail(&self, ticket: &str) -> Result<Option<CaseDetail>, CaseError> {
        let mut tx = self.read_tx().await?;
        let detail = load_detail(&mut tx, ticket).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// The cases with these tickets, in the given order (unknown tickets left out), with
    /// the same children as [`load_detail`]: one snapshot, five statements per
    /// [`DETAILS_CHUNK`] tickets instead of five per case.
    pub(crate) async fn case_details(
        &self,
        tickets: &[String],
    ) -> Result<Vec<CaseDetail>, CaseError> {
        let mut tx = self.read_tx().await?;
        let mut found = std::collections::HashMap::with_capacity(tickets.len());
        for chunk in tickets.chunks(DETAILS_CHUNK) {
            for detail in load_details(&mut tx, chunk).await? {
                found.insert(detail.case.ticket.clone(), detail);
            }
        }
        tx.commit().await?;
        Ok(tickets.iter().filter_map(|t| found.remove(t)).collect())
    }

    pub(crate) async fn transition(
        &self,
        ticket: &str,
        action: &Action,
        actor: &Actor,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let mut tx = self.write_tx().await?;
        let r = locked_case(&mut tx, ticket).await?;
        let clock = Clock {
            calendar,
            policy,
            now,
        };
        apply_action(&mut tx, &r, action, actor, &clock, None).await?;
        let detail = load_detail(&mut tx, ticket)
            .await?
            .ok_or_else(|| CaseError::TicketNotFound(ticket.to_owned()))?;
        tx.commit().await?;
        Ok(detail)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn revisit_by_phone(
        &self,
        case: CaseId,
        satisfaction: Satisfaction,
        call: CallId,
        recording: Option<RecordingId>,
        calendar: &WorkCalendar,
        policy: &DeadlinePolicy,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let mut tx = self.write_tx().await?;
        let ticket: Option<String> = sqlx::query_scalar("SELECT ticket FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_optional(&mut *tx)
            .await?;
        let ticket = ticket.ok_or(CaseError::CaseNotFound(case))?;
        let r = locked_case(&mut tx, &ticket).await?;
        // What the citizen said is on the recording: name it in the trail, so whoever
        // handles the redo (or checks the verdict) can listen to it.
        let evidence = match recording {
            Some(id) => {
                let found: Option<(i64, String)> =
                    sqlx::query_as("SELECT case_id, path FROM recordings WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                let (owner, path) = found.ok_or(CaseError::RecordingNotFound(id))?;
                if owner != case.0 {
                    return Err(CaseError::InvalidField {
                        field: "recording",
                        reason: format!("recording {id} is not of case {case}"),
                    });
                }
                format!("evidence: recording {id} ({path})")
            }
            None => format!("on call {call}, not recorded"),
        };
        let system = Actor::new("system", Role::System);
        let clock = Clock {
            calendar,
            policy,
            now,
        };
        let revisit = Action::Revisit { satisfaction };
        let note = format!("at the automatic revisit; {evidence}");
        let after = apply_action(&mut tx, &r, &revisit, &system, &clock, Some(&note)).await?;
        super::callbacks::set_call_satisfaction(&mut tx, case, call, satisfaction.score()).await?;
        if satisfaction == Satisfaction::Unsatisfied {
            let redo = Action::Redo { department: None };
            let note = format!("unsatisfied at the automatic revisit; {evidence}");
            apply_action(&mut tx, &after, &redo, &system, &clock, Some(&note)).await?;
        }
        let detail = load_detail(&mut tx, &ticket)
            .await?
            .ok_or_else(|| CaseError::TicketNotFound(ticket.clone()))?;
        tx.commit().await?;
        Ok(detail)
    }

    pub(crate) async fn create_case(
        &self,
        c: &CheckedCase,
        actor: &Actor,
        local_day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let mut tx = self.write_tx().await?;
        let ticket = next_ticket(&mut tx, local_day).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (ticket, channel, status, caller_number, caller_name, location, \
             category, subject, description, confidential, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(&ticket)
        .bind(c.channel.as_str())
        .bind(CaseState::Registered.as_str())
        .bind(&c.caller_number)
        .bind(&c.caller_name)
        .bind(&c.location)
        .bind(c.category.map(|x| x.as_str()))
        .bind(&c.subject)
        .bind(&c.description)
        .bind(c.confidential)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let note = format!("by {}", c.channel.as_str());
        let to = Some(CaseState::Registered);
        insert_event(
            &mut tx,
            id,
            now,
            &actor.user,
            "registered",
            None,
            to,
            Some(&note),
        )
        .await?;
        let detail = load_detail(&mut tx, &ticket)
            .await?
            .ok_or_else(|| CaseError::TicketNotFound(ticket.clone()))?;
        tx.commit().await?;
        Ok(detail)
    }

    pub(crate) async fn update_case_fields(
        &self,
        ticket: &str,
        fields: &CaseFields,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let mut tx = self.write_tx().await?;
        let r = locked_case(&mut tx, ticket).await?;
        let (next, changed) = workflow::plan_fields(&r, fields, actor, now)?;
        if !changed.is_empty() {
            write_case(&mut tx, &next).await?;
            let note = changed.join(", ");
            insert_event(
                &mut tx,
                r.id,
                now,
                &actor.user,
                "updated",
                None,
                None,
                Some(&note),
            )
            .await?;
        }
        let detail = load_detail(&mut tx, ticket)
            .await?
            .ok_or_else(|| CaseError::TicketNotFound(ticket.to_owned()))?;
        tx.commit().await?;
        Ok(detail)
    }

    pub(crate) async fn search_cases(&self, q: &CaseQuery) -> Result<Vec<CaseSummary>, CaseError> {
        let mut conn = self.pool.acquire().await?;
        let department = match &q.department {
            Some(code) => Some(
                department_record(&mut conn, code)
                    .await?
                    .ok_or_else(|| CaseError::DepartmentNotFound(code.clone()))?,
            ),
            None => None,
        };
        let mut b: QueryBuilder<Db> = QueryBuilder::new("");
        if let (Some(d), true) = (&department, q.include_subtree) {
            b.push("WITH RECURSIVE sub (id) AS (SELECT id FROM departments WHERE id = ");
            b.push_bind(d.id);
            b.push(" UNION ALL SELECT x.id FROM departments x JOIN sub ON x.parent_id = sub.id) ");
        }
        b.push(CASE_SELECT);
        b.push(" WHERE 1 = 1");
        if let Some(t) = &q.ticket {
            b.push(" AND c.ticket = ").push_bind(t.clone());
        }
        if let Some(n) = &q.caller_number {
            b.push(" AND c.caller_number = ").push_bind(n.clone());
        }
        match q.status {
            Some(s) => {
                b.push(" AND c.status = ").push_bind(s.as_str());
            }
            // A call that asked for nothing is not a work order: found only by its state.
            None => {
                b.push(" AND c.status <> ")
                    .push_bind(CaseState::NoRequest.as_str());
            }
        }
        if let Some(d) = &department {
            if q.include_subtree {
                b.push(" AND c.department_id IN (SELECT id FROM sub)");
            } else {
                b.push(" AND c.department_id = ").push_bind(d.id);
            }
        }
        if let Some(c) = q.category {
            b.push(" AND c.category = ").push_bind(c.as_str());
        }
        if q.exclude_confidential {
            b.push(" AND c.confidential = ")
                .push_bind(false)
                .push(" AND (c.category IS NULL OR c.category NOT IN (")
                .push_bind(Category::Complaint.as_str())
                .push(", ")
                .push_bind(Category::Report.as_str())
                .push("))");
        }
        if let Some(from) = q.from {
            b.push(" AND c.created_at >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            b.push(" AND c.created_at < ").push_bind(to);
        }
        if let Some(at) = q.overdue_at {
            b.push(" AND c.status IN ('dispatched', 'accepted', 'redo') AND c.deadline < ")
                .push_bind(at);
        }
        b.push(" ORDER BY c.id DESC LIMIT ")
            .push_bind(i64::from(crate::store::search_limit(q.limit)))
            .push(" OFFSET ")
            .push_bind(i64::from(q.offset));
        let found: Vec<CaseRecord> = b.build_query_as().fetch_all(&mut *conn).await?;
        convert_all(found)
    }

    pub(crate) async fn open_cases_for_number(
        &self,
        number: &str,
    ) -> Result<Vec<CaseSummary>, CaseError> {
        let found: Vec<CaseRecord> = sqlx::query_as(&format!(
            "{CASE_SELECT} WHERE c.caller_number = $1 AND c.status NOT IN {FINAL_STATES} \
             AND c.status <> 'no_request' ORDER BY c.id DESC"
        ))
        .bind(number)
        .fetch_all(&self.pool)
        .await?;
        convert_all(found)
    }

    pub(crate) async fn link_call_to_case(
        &self,
        call: CallId,
        ticket: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<CaseDetail, CaseError> {
        let mut tx = self.write_tx().await?;
        let target = locked_case(&mut tx, ticket).await?;
        if rows::status(&target.status)?.is_final() {
            return Err(CaseError::CaseFinal(ticket.to_owned()));
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT case_id FROM calls WHERE id = $1")
            .bind(call.0)
            .fetch_optional(&mut *tx)
            .await?;
        let old_case = found.ok_or(CaseError::CallNotFound(call))?;
        if old_case != target.id {
            let old: CaseRecord =
                sqlx::query_as(&format!("{CASE_SELECT} WHERE c.id = $1{LOCK_CASE}"))
                    .bind(old_case)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query("UPDATE calls SET case_id = $1 WHERE id = $2")
                .bind(target.id)
                .bind(call.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE recordings SET case_id = $1 WHERE call_id = $2")
                .bind(target.id)
                .bind(call.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(target.id)
                .execute(&mut *tx)
                .await?;
            // The call's row id, not its SIP Call-ID: the trail is shown to department
            // handlers, and a Call-ID ties the case to a caller's call.
            let note = format!("call {} from ticket {}", call.0, old.ticket);
            let user = &actor.user;
            insert_event(
                &mut tx,
                target.id,
                now,
                user,
                "call_linked",
                None,
                None,
                Some(&note),
            )
            .await?;
            // The case opened for the call is a duplicate if nothing else hangs on it.
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE case_id = $1")
                .bind(old.id)
                .fetch_one(&mut *tx)
                .await?;
            let from = rows::status(&old.status)?;
            let note = format!("call {} linked to ticket {ticket}", call.0);
            if left == 0 && from == CaseState::Registered {
                sqlx::query(
                    "UPDATE cases SET status = $1, closed_at = $2, updated_at = $2 WHERE id = $3",
                )
                .bind(CaseState::Closed.as_str())
                .bind(now)
                .bind(old.id)
                .execute(&mut *tx)
                .await?;
                let to = Some(CaseState::Closed);
                insert_event(
                    &mut tx,
                    old.id,
                    now,
                    user,
                    "merged",
                    Some(from),
                    to,
                    Some(&note),
                )
                .await?;
            } else {
                insert_event(
                    &mut tx,
                    old.id,
                    now,
                    user,
                    "call_moved",
                    None,
                    None,
                    Some(&note),
                )
                .await?;
            }
        }
        let detail = load_detail(&mut tx, ticket)
            .await?
            .ok_or_else(|| CaseError::TicketNotFound(ticket.to_owned()))?;
        tx.commit().await?;
        Ok(detail)
    }

    pub(crate) async fn add_user(
        &self,
        u: &NewUser,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User, CaseError> {
        let mut tx = self.write_tx().await?;
        let department = match &u.department {
            Some(code) => Some(
                department_record(&mut tx, code)
                    .await?
                    .ok_or_else(|| CaseError::DepartmentNotFound(code.clone()))?
                    .id,
            ),
            None => None,
        };
        if let Some(ext) = &u.extension {
            let known: Option<String> = sqlx::query_scalar(
                "SELECT extension FROM agents WHERE extension = $1 AND removed_at IS NULL",
            )
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await?;
            if known.is_none() {
                return Err(CaseError::AgentNotFound(ext.clone()));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, name, role, department_id, password_hash, disabled, \
             created_at, extension) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&u.username)
        .bind(u.name.trim())
        .bind(u.role.as_str())
        .bind(department)
        .bind(password_hash)
        .bind(false)
        .bind(now)
        .bind(&u.extension)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match kind(&e) {
            Some(ErrorKind::UniqueViolation) if is_extension_taken(&e) => CaseError::InvalidField {
                field: "extension",
                reason: "another user already works at it".into(),
            },
            Some(ErrorKind::UniqueViolation) => CaseError::UserExists(u.username.clone()),
            _ => e.into(),
        })?;
        let user = user_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| CaseError::UserNotFound(u.username.clone()))?;
        tx.commit().await?;
        Ok(user)
    }

    pub(crate) async fn users(&self) -> Result<Vec<User>, CaseError> {
        let all: Vec<UserRecord> = sqlx::query_as(&format!("{USER_SELECT} ORDER BY u.id"))
            .fetch_all(&self.pool)
            .await?;
        convert_all(all)
    }

    pub(crate) async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(disabled)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CaseError::UserNotFound(username.to_owned()));
        }
        if disabled {
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1)",
            )
            .bind(username)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The id and password hash of an enabled user.
    pub(crate) async fn login_record(
        &self,
        username: &str,
    ) -> Result<Option<(i64, String)>, CaseError> {
        Ok(sqlx::query_as(
            "SELECT id, password_hash FROM users WHERE username = $1 AND NOT disabled",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn user(&self, id: UserId) -> Result<Option<User>, CaseError> {
        let mut conn = self.pool.acquire().await?;
        user_by_id(&mut conn, id.0).await
    }

    pub(crate) async fn insert_session(
        &self,
        token_hash: &str,
        user: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match kind(&e) {
            Some(ErrorKind::ForeignKeyViolation) => CaseError::UserNotFound(user.to_string()),
            _ => e.into(),
        })?;
        Ok(())
    }

    pub(crate) async fn session_user(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, CaseError> {
        let found: Option<UserRecord> = sqlx::query_as(&format!(
            "{USER_SELECT} JOIN sessions s ON s.user_id = u.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        found.map(User::try_from).transpose()
    }

    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<(), CaseError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn record_recording_access(
        &self,
        recording: RecordingId,
        user: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        let found: Option<(i64, String)> =
            sqlx::query_as("SELECT case_id, path FROM recordings WHERE id = $1")
                .bind(recording.0)
                .fetch_optional(&mut *tx)
                .await?;
        let (case, path) = found.ok_or(CaseError::RecordingNotFound(recording))?;
        let note = format!("recording {recording}: {path}");
        insert_event(
            &mut tx,
            case,
            at,
            user,
            "recording_read",
            None,
            None,
            Some(&note),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The working-day calendar, deadline policy and time a transition is applied with.
struct Clock<'a> {
    calendar: &'a WorkCalendar,
    policy: &'a DeadlinePolicy,
    now: DateTime<Utc>,
}

/// Applies `action` by `actor` to the locked case row `r` inside the caller's
/// transaction: lookups, the plan ([`workflow::plan_transition`]), the case row, the
/// extension requests and the audit event (its note followed by `extra`, if given).
/// Returns the case row as written, for a second action in the same transaction.
async fn apply_action(
    conn: &mut Conn,
    r: &CaseRecord,
    action: &Action,
    actor: &Actor,
    clock: &Clock<'_>,
    extra: Option<&str>,
) -> Result<CaseRecord, CaseError> {
    let now = clock.now;
    let mut found = Lookups::default();
    if let Some(code) = workflow::named_department(action) {
        found.target = department_record(&mut *conn, code).await?;
        if let (Some(t), Some(current)) = (&found.target, r.department_id) {
            found.target_below_current =
                t.id != current && within(&mut *conn, t.id, current).await?;
        }
    }
    if workflow::needs_pending_extension(action) {
        found.pending = sqlx::query_as(&format!(
            "{EXTENSION_SELECT} WHERE case_id = $1 AND status = 'pending'"
        ))
        .bind(r.id)
        .fetch_optional(&mut *conn)
        .await?;
    }
    let plan =
        workflow::plan_transition(r, action, actor, found, clock.calendar, clock.policy, now)?;
    write_case(&mut *conn, &plan.record).await?;
    match &plan.extension {
        ExtensionChange::None => {}
        ExtensionChange::Request { days, reason } => {
            sqlx::query(
                "INSERT INTO extension_requests (case_id, days, reason, status, \
                 requested_by, requested_at) VALUES ($1, $2, $3, 'pending', $4, $5)",
            )
            .bind(r.id)
            .bind(i64::from(*days))
            .bind(reason)
            .bind(&actor.user)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        ExtensionChange::Decide { id, status } => {
            sqlx::query(
                "UPDATE extension_requests SET status = $1, decided_by = $2, \
                 decided_at = $3 WHERE id = $4",
            )
            .bind(status.as_str())
            .bind(&actor.user)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    let (from, to) = if plan.from == plan.to {
        (None, None)
    } else {
        (Some(plan.from), Some(plan.to))
    };
    let note = match (plan.note, extra) {
        (Some(n), Some(e)) => Some(format!("{n} — {e}")),
        (n, e) => n.or(e.map(str::to_owned)),
    };
    let event = plan.event;
    insert_event(&mut *conn, r.id, now, &actor.user, event, from, to, note.as_deref()).await?;
    if plan.from != plan.to {
        cancel_tasks_no_longer_owed(&mut *conn, r.id, plan.to, now).await?;
    }
    Ok(plan.record)
}

/// In the transaction that moves a case to `to`: the pending callback tasks it no longer
/// owes are skipped, so that nobody rings a citizen about a case already settled — a
/// revisit once the case has left `replied` (revisited by hand, closed, sent back), every
/// task once the case is final. A task already under way is left to finish (its claim
/// fails if it has not been claimed yet).
async fn cancel_tasks_no_longer_owed(
    conn: &mut Conn,
    case: i64,
    to: CaseState,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    if to == CaseState::Replied {
        return Ok(());
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE callback_tasks SET status = 'skipped', updated_at = $1 \
         WHERE case_id = $2 AND status = 'pending' AND (reason = 'revisit' OR $3) RETURNING id",
    )
    .bind(now)
    .bind(case)
    .bind(to.is_final())
    .fetch_all(&mut *conn)
    .await?;
    for id in ids {
        let note = format!("task {id}: no longer needed, the case is {}", to.as_str());
        insert_event(
            &mut *conn,
            case,
            now,
            "system",
            "callback_skipped",
            None,
            None,
            Some(&note),
        )
        .await?;
    }
    Ok(())
}

async fn department_record(
    conn: &mut Conn,
    code: &str,
) -> Result<Option<DepartmentRecord>, CaseError> {
    Ok(
        sqlx::query_as(&format!("{DEPARTMENT_SELECT} WHERE d.code = $1"))
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Whether department `child` is `ancestor` or lies below it.
async fn within(conn: &mut Conn, child: i64, ancestor: i64) -> Result<bool, CaseError> {
    let n: i64 = sqlx::query_scalar(
        "WITH RECURSIVE up (id, parent_id) AS ( \
           SELECT id, parent_id FROM departments WHERE id = $1 \
           UNION ALL SELECT d.id, d.parent_id FROM departments d JOIN up ON d.id = up.parent_id) \
         SELECT COUNT(*) FROM up WHERE id = $2",
    )
    .bind(child)
    .bind(ancestor)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// The case with this ticket, locked for the rest of the transaction.
async fn locked_case(conn: &mut Conn, ticket: &str) -> Result<CaseRecord, CaseError> {
    let found: Option<CaseRecord> =
        sqlx::query_as(&format!("{CASE_SELECT} WHERE c.ticket = $1{LOCK_CASE}"))
            .bind(ticket)
            .fetch_optional(&mut *conn)
            .await?;
    found.ok_or_else(|| CaseError::TicketNotFound(ticket.to_owned()))
}

/// Writes every column of a case row that can change.
async fn write_case(conn: &mut Conn, r: &CaseRecord) -> Result<(), CaseError> {
    sqlx::query(
        "UPDATE cases SET status = $1, caller_name = $2, location = $3, category = $4, \
         subject = $5, description = $6, handling_mode = $7, department_id = $8, \
         dispatch_mode = $9, deadline = $10, confidential = $11, satisfaction = $12, \
         urge_count = $13, redo_count = $14, returned_reason = $15, resolved_at = $16, \
         closed_at = $17, updated_at = $18 WHERE id = $19",
    )
    .bind(&r.status)
    .bind(&r.caller_name)
    .bind(&r.location)
    .bind(&r.category)
    .bind(&r.subject)
    .bind(&r.description)
    .bind(&r.handling_mode)
    .bind(r.department_id)
    .bind(&r.dispatch_mode)
    .bind(r.deadline)
    .bind(r.confidential)
    .bind(r.satisfaction)
    .bind(r.urge_count)
    .bind(r.redo_count)
    .bind(&r.returned_reason)
    .bind(r.resolved_at)
    .bind(r.closed_at)
    .bind(r.updated_at)
    .bind(r.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn user_by_id(conn: &mut Conn, id: i64) -> Result<Option<User>, CaseError> {
    let found: Option<UserRecord> = sqlx::query_as(&format!("{USER_SELECT} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(User::try_from).transpose()
}

/// A case with its calls, recordings, audit trail and extension requests.
pub(super) async fn load_detail(
    conn: &mut Conn,
    ticket: &str,
) -> Result<Option<CaseDetail>, CaseError> {
    let case: Option<CaseRecord> = sqlx::query_as(&format!("{CASE_SELECT} WHERE c.ticket = $1"))
        .bind(ticket)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(case) = case else {
        return Ok(None);
    };
    let calls: Vec<CallRecord> = sqlx::query_as(&format!(
        "SELECT id, case_id, sip_call_id, caller_number, called_number, direction, \
         arrived_at, answered_at, ended_at, hangup_cause, ivr_path, satisfaction, \
         callback_task_id, {} \
         FROM calls WHERE case_id = $1 ORDER BY id",
        super::ACD_COLUMNS
    ))
    .bind(case.id)
    .fetch_all(&mut *conn)
    .await?;
    let recordings: Vec<RecordingRecord> = sqlx::query_as(
        "SELECT id, call_id, case_id, kind, path, duration_ms, bytes, created_at \
         FROM recordings WHERE case_id = $1 ORDER BY id",
    )
    .bind(case.id)
    .fetch_all(&mut *conn)
    .await?;
    let events: Vec<EventRecord> = sqlx::query_as(
        "SELECT id, case_id, at, actor, event, from_status, to_status, note \
         FROM case_events WHERE case_id = $1 ORDER BY id",
    )
    .bind(case.id)
    .fetch_all(&mut *conn)
    .await?;
    let extensions: Vec<ExtensionRecord> = sqlx::query_as(&format!(
        "{EXTENSION_SELECT} WHERE case_id = $1 ORDER BY id"
    ))
    .bind(case.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(CaseDetail {
        case: rows::summary(&case)?,
        order: rows::work_order(&case)?,
        calls: convert_all(calls)?,
        recordings: convert_all(recordings)?,
        events: convert_all(events)?,
        extensions: convert_all(extensions)?,
    }))
}

/// Tickets per batch of [`load_details`]: well under SQLite's limit of bound parameters.
const DETAILS_CHUNK: usize = 500;

/// An extension request with the case it belongs to.
#[derive(sqlx::FromRow)]
struct KeyedExtension {
    case_id: i64,
    #[sqlx(flatten)]
    record: ExtensionRecord,
}

/// [`load_detail`] for many tickets at once: each child table read once for all of them.
async fn load_details(conn: &mut Conn, tickets: &[String]) -> Result<Vec<CaseDetail>, CaseError> {
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    let mut b: QueryBuilder<Db> = QueryBuilder::new(CASE_SELECT);
    b.push(" WHERE c.ticket IN (");
    let mut list = b.separated(", ");
    for t in tickets {
        list.push_bind(t.clone());
    }
    b.push(")");
    let cases: Vec<CaseRecord> = b.build_query_as().fetch_all(&mut *conn).await?;
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    // `SELECT … WHERE case_id IN (the cases) ORDER BY case_id, id`.
    let children = |select: &str| {
        let mut b: QueryBuilder<Db> = QueryBuilder::new(select);
        b.push(" WHERE case_id IN (");
        let mut list = b.separated(", ");
        for c in &cases {
            list.push_bind(c.id);
        }
        b.push(") ORDER BY case_id, id");
        b
    };
    let mut q = children(&format!(
        "SELECT id, case_id, sip_call_id, caller_number, called_number, direction, \
         arrived_at, answered_at, ended_at, hangup_cause, ivr_path, satisfaction, \
         callback_task_id, {} FROM calls",
        super::ACD_COLUMNS
    ));
    let calls: Vec<CallRecord> = q.build_query_as().fetch_all(&mut *conn).await?;
    let mut q = children(
        "SELECT id, call_id, case_id, kind, path, duration_ms, bytes, created_at FROM recordings",
    );
    let recordings: Vec<RecordingRecord> = q.build_query_as().fetch_all(&mut *conn).await?;
    let mut q = children(
        "SELECT id, case_id, at, actor, event, from_status, to_status, note FROM case_events",
    );
    let events: Vec<EventRecord> = q.build_query_as().fetch_all(&mut *conn).await?;
    let mut q = children(&EXTENSION_SELECT.replacen("SELECT ", "SELECT case_id, ", 1));
    let extensions: Vec<KeyedExtension> = q.build_query_as().fetch_all(&mut *conn).await?;

    let mut calls = group(calls, |r| r.case_id);
    let mut recordings = group(recordings, |r| r.case_id);
    let mut events = group(events, |r| r.case_id);
    let mut extensions = group(extensions, |r| r.case_id);
    cases
        .iter()
        .map(|case| {
            Ok(CaseDetail {
                case: rows::summary(case)?,
                order: rows::work_order(case)?,
                calls: convert_all(calls.remove(&case.id).unwrap_or_default())?,
                recordings: convert_all(recordings.remove(&case.id).unwrap_or_default())?,
                events: convert_all(events.remove(&case.id).unwrap_or_default())?,
                extensions: convert_all(
                    extensions
                        .remove(&case.id)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|k| k.record)
                        .collect(),
                )?,
            })
        })
        .collect()
}

/// Rows by the case they belong to, each case's in the order read.
fn group<T>(rows: Vec<T>, key: impl Fn(&T) -> i64) -> std::collections::HashMap<i64, Vec<T>> {
    let mut by: std::collections::HashMap<i64, Vec<T>> = std::collections::HashMap::new();
    for r in rows {
        by.entry(key(&r)).or_default().push(r);
    }
    by
}

/// Whether a unique violation is the users' extension index (not the user name).
fn is_extension_taken(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.constraint() == Some("users_extension") || d.message().contains("users.extension")
        }
        _ => false,
    }
}

impl Backend {
    /// [`register_on_answer`] alone, for tests that need a work order opened by a call
    /// without driving the ACD.
    #[cfg(test)]
    pub(crate) async fn register_case(&self, case: i64, at: DateTime<Utc>) -> Result<(), CaseError> {
        let mut tx = self.write_tx().await?;
        register_on_answer(&mut tx, case, at).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An agent answered the call of this case: a case with no request yet
/// ([`CaseState::NoRequest`]) becomes a work order (`registered`, audit event
/// `registered`) in the caller's transaction. A case already past that (a callback's, a
/// revisit's) is left as it is.
pub(super) async fn register_on_answer(
    conn: &mut Conn,
    case: i64,
    at: DateTime<Utc>,
) -> Result<(), CaseError> {
    let t = workflow::register_transition();
    let done = sqlx::query("UPDATE cases SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
        .bind(t.to.as_str())
        .bind(at)
        .bind(case)
        .bind(t.from.as_str())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        insert_event(conn, case, at, "system", t.event, Some(t.from), Some(t.to), None).await?;
    }
    Ok(())
}
