-- Seated agents (坐席), their skills and state history, and the ACD facts of each call.
-- PostgreSQL twin of migrations/sqlite/0003_agents_acd.sql; keep the two in step.

-- An agent is never deleted (calls and events name it): removing one sets removed_at,
-- and adding the same extension again revives the row with new details.
CREATE TABLE agents (
    extension     TEXT        PRIMARY KEY CHECK (extension ~ '^[0-9]{1,16}$'),
    name          TEXT        NOT NULL,
    password_hash TEXT        NOT NULL, -- argon2id PHC string, for the desktop login
    realm         TEXT        NOT NULL, -- the SIP digest realm the HA1 values were made for
    ha1_md5       TEXT        NOT NULL, -- hex(MD5("extension:realm:password"))
    ha1_sha256    TEXT        NOT NULL, -- hex(SHA-256("extension:realm:password"))
    max_ring_secs BIGINT      NOT NULL DEFAULT 20 CHECK (max_ring_secs > 0),
    wrap_up_secs  BIGINT      NOT NULL DEFAULT 30 CHECK (wrap_up_secs >= 0),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    removed_at    TIMESTAMPTZ
);

CREATE TABLE agent_skills (
    extension TEXT   NOT NULL REFERENCES agents (extension),
    skill     TEXT   NOT NULL CHECK (skill ~ '^[a-z0-9_-]{1,32}$'),
    level     BIGINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (extension, skill)
);

-- Append-only history of agent states (logged_out, ready, ringing, talking, wrap_up,
-- not_ready…; the names belong to the ACD).
CREATE TABLE agent_events (
    id          BIGSERIAL   PRIMARY KEY,
    extension   TEXT        NOT NULL REFERENCES agents (extension),
    at          TIMESTAMPTZ NOT NULL,
    from_state  TEXT        NOT NULL,
    to_state    TEXT        NOT NULL,
    reason      TEXT,
    sip_call_id TEXT
);
CREATE INDEX agent_events_extension ON agent_events (extension, id);
CREATE INDEX agent_events_at ON agent_events (at);

CREATE FUNCTION agent_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'agent_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER agent_events_no_change BEFORE UPDATE OR DELETE ON agent_events
    FOR EACH ROW EXECUTE FUNCTION agent_events_append_only();
CREATE TRIGGER agent_events_no_truncate BEFORE TRUNCATE ON agent_events
    FOR EACH STATEMENT EXECUTE FUNCTION agent_events_append_only();

-- ACD facts of a call. Durations are kept in milliseconds as computed when each step
-- happened, so reports need no date arithmetic.
ALTER TABLE calls
    ADD COLUMN queue             TEXT,
    ADD COLUMN agent             TEXT REFERENCES agents (extension),
    ADD COLUMN agent_call_id     TEXT,
    ADD COLUMN queued_at         TIMESTAMPTZ,
    ADD COLUMN offered_count     BIGINT NOT NULL DEFAULT 0 CHECK (offered_count >= 0),
    ADD COLUMN rejected_count    BIGINT NOT NULL DEFAULT 0 CHECK (rejected_count >= 0),
    ADD COLUMN agent_answered_at TIMESTAMPTZ,
    ADD COLUMN agent_ended_at    TIMESTAMPTZ,
    ADD COLUMN wrap_up_ended_at  TIMESTAMPTZ,
    ADD COLUMN acd_result        TEXT CHECK (acd_result IN
        ('answered', 'abandoned', 'expired', 'queue_full', 'no_agents', 'callback_requested')),
    ADD COLUMN wait_ms           BIGINT CHECK (wait_ms >= 0),
    ADD COLUMN talk_ms           BIGINT CHECK (talk_ms >= 0),
    ADD COLUMN wrap_up_ms        BIGINT CHECK (wrap_up_ms >= 0);
CREATE INDEX calls_queued_at ON calls (queued_at);
CREATE INDEX calls_agent ON calls (agent);
