//! Users of the HTTP API and their login sessions.

use chrono::{DateTime, Utc};

use super::{check_extension, field, Backend, CaseStore};
use crate::error::CaseError;
use crate::lifecycle::Role;
use crate::model::{is_valid_code, NewUser, User, UserId};
use crate::secret::{self};

impl CaseStore {
    /// Adds a user of the HTTP API with an argon2id hash of the password. Checks (each
    /// [`CaseError::InvalidField`]): user name like a department code, non-blank name,
    /// not the `system` role, a department for (only for) a department handler, a
    /// password of at least 8 characters. [`CaseError::UserExists`],
    /// [`CaseError::DepartmentNotFound`].
    pub async fn add_user(&self, u: NewUser, now: DateTime<Utc>) -> Result<User, CaseError> {
        if !is_valid_code(&u.username) {
            return Err(field("username", "1 to 64 of a-z, 0-9, '.', '_', '-'"));
        }
        if u.name.trim().is_empty() {
            return Err(field("name", "must not be empty"));
        }
        if u.role == Role::System {
            return Err(field("role", "system is not a user role"));
        }
        match (u.role == Role::DepartmentHandler, &u.department) {
            (true, None) => return Err(field("department", "a department handler needs one")),
            (false, Some(_)) => {
                return Err(field("department", "only department handlers have one"))
            }
            _ => {}
        }
        if let Some(ext) = &u.extension {
            if !matches!(u.role, Role::Agent | Role::Supervisor) {
                return Err(field(
                    "extension",
                    "only agents and supervisors work at one",
                ));
            }
            check_extension(ext)?;
        }
        if u.password.chars().count() < 8 {
            return Err(field("password", "at least 8 characters"));
        }
        let hash = secret::hash_password(u.password.clone()).await?;
        let user = on_backend!(self, b => b.add_user(&u, &hash, now).await?);
        tracing::info!(user = %user.username, role = %user.role, "user added");
        Ok(user)
    }

    /// Every user, in the order they were added.
    pub async fn users(&self) -> Result<Vec<User>, CaseError> {
        on_backend!(self, b => b.users().await)
    }

    /// Disables (or enables again) a user; disabling ends their sessions.
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<(), CaseError> {
        on_backend!(self, b => b.set_user_disabled(username, disabled).await)
    }

    /// The user if the password is right and the user is not disabled. An unknown or
    /// disabled user costs as much hashing work as a wrong password.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, CaseError> {
        let found = if is_valid_code(username) {
            on_backend!(self, b => b.login_record(username).await?)
        } else {
            None
        };
        let (id, hash) = match found {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        if !secret::verify_password(password.to_owned(), hash).await? {
            return Ok(None);
        }
        match id {
            Some(id) => on_backend!(self, b => b.user(UserId(id)).await),
            None => Ok(None),
        }
    }

    /// Starts a session for `user` valid for `ttl` from `now`: returns the token (32
    /// random bytes, hex); only its SHA-256 is stored.
    pub async fn create_session(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, CaseError> {
        let token = secret::new_token();
        let hash = secret::token_hash(&token);
        on_backend!(self, b => b.insert_session(&hash, user, now, now + ttl).await?);
        Ok(token)
    }

    /// The (enabled) user of a session that has not expired at `now`.
    pub async fn session_user(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, CaseError> {
        let hash = secret::token_hash(token);
        on_backend!(self, b => b.session_user(&hash, now).await)
    }

    /// Ends a session (logout); an unknown token is not an error.
    pub async fn end_session(&self, token: &str) -> Result<(), CaseError> {
        let hash = secret::token_hash(token);
        on_backend!(self, b => b.delete_session(&hash).await)
    }
}
