-- Hotline 12345: work orders (cases), their calls, recordings, ticket sequences and audit.
-- Times are UTC, stored as RFC 3339 text. Status values are checked in Rust (CaseStatus),
-- so the case lifecycle can grow without rebuilding the table.

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket        TEXT    NOT NULL UNIQUE CHECK (ticket <> '' AND ticket NOT GLOB '*[^0-9]*'),
    channel       TEXT    NOT NULL CHECK (channel IN ('phone', 'voicemail', 'callback', 'web')),
    status        TEXT    NOT NULL,
    caller_number TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    sip_call_id   TEXT    NOT NULL,
    caller_number TEXT    NOT NULL,
    called_number TEXT    NOT NULL,
    direction     TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    arrived_at    TEXT    NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    hangup_cause  TEXT,
    ivr_path      TEXT
);
CREATE INDEX calls_case_id ON calls (case_id);
CREATE INDEX calls_sip_call_id ON calls (sip_call_id);

CREATE TABLE recordings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     INTEGER NOT NULL REFERENCES calls (id),
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('voicemail', 'conversation')),
    path        TEXT    NOT NULL, -- relative to the configured recordings directory
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    created_at  TEXT    NOT NULL
);
CREATE INDEX recordings_case_id ON recordings (case_id);
CREATE INDEX recordings_call_id ON recordings (call_id);

-- One row per local day ('YYYYMMDD'); `last` is the last sequence handed out that day.
CREATE TABLE ticket_sequences (
    day  TEXT    PRIMARY KEY NOT NULL,
    last INTEGER NOT NULL
);

-- Append-only audit trail: every status change and notable step of a case.
CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT
);
CREATE INDEX case_events_case_id ON case_events (case_id);

CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only');
END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only');
END;
