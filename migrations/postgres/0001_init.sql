-- Hotline 12345: work orders (cases), their calls, recordings, ticket sequences and audit.
-- PostgreSQL twin of migrations/sqlite/0001_init.sql; keep the two in step.
-- Status values are checked in Rust (CaseStatus), so the case lifecycle can grow freely.

CREATE TABLE cases (
    id            BIGSERIAL   PRIMARY KEY,
    ticket        TEXT        NOT NULL UNIQUE CHECK (ticket ~ '^[0-9]+$'),
    channel       TEXT        NOT NULL CHECK (channel IN ('phone', 'voicemail', 'callback', 'web')),
    status        TEXT        NOT NULL,
    caller_number TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE calls (
    id            BIGSERIAL   PRIMARY KEY,
    case_id       BIGINT      NOT NULL REFERENCES cases (id),
    sip_call_id   TEXT        NOT NULL,
    caller_number TEXT        NOT NULL,
    called_number TEXT        NOT NULL,
    direction     TEXT        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    arrived_at    TIMESTAMPTZ NOT NULL,
    answered_at   TIMESTAMPTZ,
    ended_at      TIMESTAMPTZ,
    hangup_cause  TEXT,
    ivr_path      TEXT
);
CREATE INDEX calls_case_id ON calls (case_id);
CREATE INDEX calls_sip_call_id ON calls (sip_call_id);

CREATE TABLE recordings (
    id          BIGSERIAL   PRIMARY KEY,
    call_id     BIGINT      NOT NULL REFERENCES calls (id),
    case_id     BIGINT      NOT NULL REFERENCES cases (id),
    kind        TEXT        NOT NULL CHECK (kind IN ('voicemail', 'conversation')),
    path        TEXT        NOT NULL, -- relative to the configured recordings directory
    duration_ms BIGINT      NOT NULL CHECK (duration_ms >= 0),
    bytes       BIGINT      NOT NULL CHECK (bytes >= 0),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX recordings_case_id ON recordings (case_id);
CREATE INDEX recordings_call_id ON recordings (call_id);

-- One row per local day ('YYYYMMDD'); `last` is the last sequence handed out that day.
CREATE TABLE ticket_sequences (
    day  TEXT   PRIMARY KEY,
    last BIGINT NOT NULL
);

-- Append-only audit trail: every status change and notable step of a case.
CREATE TABLE case_events (
    id          BIGSERIAL   PRIMARY KEY,
    case_id     BIGINT      NOT NULL REFERENCES cases (id),
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL,
    event       TEXT        NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT
);
CREATE INDEX case_events_case_id ON case_events (case_id);

CREATE FUNCTION case_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only();
