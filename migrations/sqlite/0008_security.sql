-- Issue 9 (hostile networks): an audit of what the guards did, who changed an agent's
-- state, which SIP extension a desk user works at, and callback numbers that must not be
-- dialled.

-- Lockouts (SIP digest and HTTP login) and other security decisions, append-only.
CREATE TABLE security_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    source   TEXT,
    username TEXT,
    note     TEXT
);
CREATE INDEX security_events_at ON security_events (at);

CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
BEGIN
    SELECT RAISE(ABORT, 'security_events is append-only');
END;
CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
BEGIN
    SELECT RAISE(ABORT, 'security_events is append-only');
END;

-- Who made an agent's state change: 'phone' (its own softphone's feature code), a desk
-- user's name, or NULL for the system (routing, wrap-up, a registration lapsing).
ALTER TABLE agent_events ADD COLUMN actor TEXT;

-- The SIP extension an agent user works at: they may change only that agent's state.
ALTER TABLE users ADD COLUMN extension TEXT;
CREATE UNIQUE INDEX users_extension ON users (extension) WHERE extension IS NOT NULL;

-- Why a callback task's number may not be dialled (international, anonymous, our own…):
-- such a task is made 'failed' at once for a person to handle, and never dialled.
ALTER TABLE callback_tasks ADD COLUMN number_problem TEXT;
