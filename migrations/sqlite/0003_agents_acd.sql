-- Seated agents (坐席), their skills and state history, and the ACD facts of each call
-- (queue, offers, agent, wait / talk / wrap-up times) for occupancy, service level and
-- the daily report.

-- An agent is never deleted (calls and events name it): removing one sets removed_at,
-- and adding the same extension again revives the row with new details.
CREATE TABLE agents (
    extension     TEXT    PRIMARY KEY NOT NULL
                  CHECK (extension <> '' AND length(extension) <= 16 AND extension NOT GLOB '*[^0-9]*'),
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL, -- argon2id PHC string, for the desktop login
    realm         TEXT    NOT NULL, -- the SIP digest realm the HA1 values were made for
    ha1_md5       TEXT    NOT NULL, -- hex(MD5("extension:realm:password"))
    ha1_sha256    TEXT    NOT NULL, -- hex(SHA-256("extension:realm:password"))
    max_ring_secs INTEGER NOT NULL DEFAULT 20 CHECK (max_ring_secs > 0),
    wrap_up_secs  INTEGER NOT NULL DEFAULT 30 CHECK (wrap_up_secs >= 0),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    removed_at    TEXT
);

CREATE TABLE agent_skills (
    extension TEXT    NOT NULL REFERENCES agents (extension),
    skill     TEXT    NOT NULL
              CHECK (skill <> '' AND length(skill) <= 32 AND skill NOT GLOB '*[^a-z0-9_-]*'),
    level     INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    PRIMARY KEY (extension, skill)
);

-- Append-only history of agent states (logged_out, ready, ringing, talking, wrap_up,
-- not_ready…; the names belong to the ACD).
CREATE TABLE agent_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    extension   TEXT    NOT NULL REFERENCES agents (extension),
    at          TEXT    NOT NULL,
    from_state  TEXT    NOT NULL,
    to_state    TEXT    NOT NULL,
    reason      TEXT,
    sip_call_id TEXT
);
CREATE INDEX agent_events_extension ON agent_events (extension, id);
CREATE INDEX agent_events_at ON agent_events (at);

CREATE TRIGGER agent_events_no_update BEFORE UPDATE ON agent_events
BEGIN
    SELECT RAISE(ABORT, 'agent_events is append-only');
END;
CREATE TRIGGER agent_events_no_delete BEFORE DELETE ON agent_events
BEGIN
    SELECT RAISE(ABORT, 'agent_events is append-only');
END;

-- ACD facts of a call. Durations are kept in milliseconds as computed when each step
-- happened, so reports need no date arithmetic.
ALTER TABLE calls ADD COLUMN queue TEXT;
ALTER TABLE calls ADD COLUMN agent TEXT REFERENCES agents (extension);
ALTER TABLE calls ADD COLUMN agent_call_id TEXT;
ALTER TABLE calls ADD COLUMN queued_at TEXT;
ALTER TABLE calls ADD COLUMN offered_count INTEGER NOT NULL DEFAULT 0 CHECK (offered_count >= 0);
ALTER TABLE calls ADD COLUMN rejected_count INTEGER NOT NULL DEFAULT 0 CHECK (rejected_count >= 0);
ALTER TABLE calls ADD COLUMN agent_answered_at TEXT;
ALTER TABLE calls ADD COLUMN agent_ended_at TEXT;
ALTER TABLE calls ADD COLUMN wrap_up_ended_at TEXT;
ALTER TABLE calls ADD COLUMN acd_result TEXT CHECK (acd_result IN
    ('answered', 'abandoned', 'expired', 'queue_full', 'no_agents', 'callback_requested'));
ALTER TABLE calls ADD COLUMN wait_ms INTEGER CHECK (wait_ms >= 0);
ALTER TABLE calls ADD COLUMN talk_ms INTEGER CHECK (talk_ms >= 0);
ALTER TABLE calls ADD COLUMN wrap_up_ms INTEGER CHECK (wrap_up_ms >= 0);
CREATE INDEX calls_queued_at ON calls (queued_at);
CREATE INDEX calls_agent ON calls (agent);
