//! Seated agents: adding, skills, removal, credentials (desktop password, SIP digest) and
//! their state history.

use chrono::{DateTime, Utc};

use super::{check_extension, Backend, CaseStore};
use crate::error::CaseError;
use crate::model::{
    check_skills, is_valid_extension, Agent, AgentEvent, AgentSecrets, NewAgent, NewAgentEvent,
    Skill,
};
use crate::secret::{self, AgentHashes};
use crate::writer::{OwnedAgentEvent, Write};

impl CaseStore {
    /// Adds a seated agent: stores an argon2id hash of the password (for the desktop
    /// login) and the SIP digest HA1 values for `realm`; never the password itself.
    ///
    /// Fails with [`CaseError::InvalidExtension`], [`CaseError::InvalidSkill`],
    /// [`CaseError::InvalidAgent`] (empty name or password, zero ring time) or
    /// [`CaseError::AgentExists`]. The extension of a removed agent may be reused.
    pub async fn add_agent(
        &self,
        a: NewAgent,
        realm: &str,
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        check_extension(&a.extension)?;
        check_skills(&a.skills)?;
        if a.name.trim().is_empty() {
            return Err(CaseError::InvalidAgent("empty name"));
        }
        if a.password.is_empty() {
            return Err(CaseError::InvalidAgent("empty password"));
        }
        if a.max_ring_secs == 0 {
            return Err(CaseError::InvalidAgent("max_ring_secs must be at least 1"));
        }
        let ha1 = secret::ha1(&a.extension, realm, &a.password);
        let password_hash = secret::hash_password(a.password.clone()).await?;
        let hashes = AgentHashes {
            password_hash: &password_hash,
            realm,
            ha1_md5: &ha1.md5,
            ha1_sha256: &ha1.sha256,
        };
        let agent = on_backend!(self, b => b.add_agent(&a, &hashes, now).await?);
        tracing::info!(agent = %agent.extension, "agent added");
        Ok(agent)
    }

    /// Every current agent, by extension (shorter first, so `999` before `1001`).
    pub async fn list_agents(&self) -> Result<Vec<Agent>, CaseError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_agents().await,
            Backend::Postgres(b) => b.list_agents().await,
        }
    }

    /// One current agent; `Ok(None)` for an unknown, removed or malformed extension.
    pub async fn agent(&self, ext: &str) -> Result<Option<Agent>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent(ext).await,
            Backend::Postgres(b) => b.agent(ext).await,
        }
    }

    /// Replaces an agent's skills with `skills` (checked, each at most once).
    pub async fn set_skills(
        &self,
        ext: &str,
        skills: Vec<Skill>,
        now: DateTime<Utc>,
    ) -> Result<Agent, CaseError> {
        check_extension(ext)?;
        check_skills(&skills)?;
        on_backend!(self, b => b.set_skills(ext, &skills, now).await)
    }

    /// Removes an agent: it can no longer log in or register, and is no longer listed;
    /// its history stays. [`CaseError::AgentNotFound`] if there is no current agent.
    pub async fn remove_agent(&self, ext: &str, now: DateTime<Utc>) -> Result<(), CaseError> {
        check_extension(ext)?;
        on_backend!(self, b => b.remove_agent(ext, now).await?);
        tracing::info!(agent = ext, "agent removed");
        Ok(())
    }

    /// The SIP digest HA1 values of a current agent, for the registrar.
    pub async fn agent_secrets(&self, ext: &str) -> Result<Option<AgentSecrets>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent_secrets(ext).await,
            Backend::Postgres(b) => b.agent_secrets(ext).await,
        }
    }

    /// Checks an agent's desktop login. An unknown, removed or malformed extension is
    /// `Ok(false)` after as much hashing work as a wrong password, so timing does not
    /// tell which extensions exist.
    pub async fn verify_agent_password(
        &self,
        ext: &str,
        password: &str,
    ) -> Result<bool, CaseError> {
        let hash = if is_valid_extension(ext) {
            match &self.backend {
                Backend::Sqlite(b) => b.password_hash(ext).await?,
                Backend::Postgres(b) => b.password_hash(ext).await?,
            }
        } else {
            None
        };
        secret::verify_password(password.to_owned(), hash).await
    }

    /// Appends one state change of an agent to its history. [`CaseError::AgentNotFound`]
    /// if the extension was never an agent.
    pub async fn record_agent_event(&self, e: &NewAgentEvent<'_>) -> Result<(), CaseError> {
        check_extension(e.extension)?;
        let event = Write::AgentEvent(OwnedAgentEvent::new(e));
        self.writer.write(event).await.map(drop)
    }

    /// The `limit` most recent state changes of an agent, newest first.
    pub async fn agent_events(&self, ext: &str, limit: u32) -> Result<Vec<AgentEvent>, CaseError> {
        if !is_valid_extension(ext) {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(b) => b.agent_events(ext, limit).await,
            Backend::Postgres(b) => b.agent_events(ext, limit).await,
        }
    }
}
