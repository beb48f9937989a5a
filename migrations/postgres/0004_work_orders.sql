-- Work orders through their whole life: departments, the work-order fields of a case,
-- extension requests, and the users and sessions of the HTTP API.
-- PostgreSQL twin of migrations/sqlite/0004_work_orders.sql; keep the two in step.
-- `cases.status` stays TEXT: it holds the lifecycle state's name
-- (lifecycle::CaseState::as_str), checked in Rust; the three values written before this migration (registered, voicemail, callback_pending) are
-- lifecycle states too, so old rows need no change.

-- The network units (承办单位): 一级 city bureaus and districts, 二级 streets and
-- sub-units, 三级 communities. Never deleted (cases name them), only made inactive.
CREATE TABLE departments (
    id         BIGSERIAL   PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE CHECK (code <> ''),
    name       TEXT    NOT NULL CHECK (name <> ''),
    parent_id  BIGINT REFERENCES departments (id),
    level      BIGINT NOT NULL CHECK (level BETWEEN 1 AND 3),
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((parent_id IS NULL) = (level = 1))
);
CREATE INDEX departments_parent_id ON departments (parent_id);

ALTER TABLE cases ADD COLUMN caller_name     TEXT;
ALTER TABLE cases ADD COLUMN location        TEXT;
ALTER TABLE cases ADD COLUMN category        TEXT CHECK (category IN
    ('consult', 'help', 'complaint', 'report', 'suggestion', 'praise'));
ALTER TABLE cases ADD COLUMN subject         TEXT;
ALTER TABLE cases ADD COLUMN description     TEXT;
ALTER TABLE cases ADD COLUMN handling_mode   TEXT CHECK (handling_mode IN
    ('answered', 'dispatched', 'forwarded'));
ALTER TABLE cases ADD COLUMN department_id   BIGINT REFERENCES departments (id);
ALTER TABLE cases ADD COLUMN dispatch_mode   TEXT CHECK (dispatch_mode IN ('phone', 'written', 'urgent'));
ALTER TABLE cases ADD COLUMN deadline TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN confidential    BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN satisfaction    BIGINT CHECK (satisfaction BETWEEN 1 AND 3);
ALTER TABLE cases ADD COLUMN urge_count      BIGINT NOT NULL DEFAULT 0 CHECK (urge_count >= 0);
ALTER TABLE cases ADD COLUMN redo_count      BIGINT NOT NULL DEFAULT 0 CHECK (redo_count >= 0);
ALTER TABLE cases ADD COLUMN returned_reason TEXT;
ALTER TABLE cases ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN closed_at TIMESTAMPTZ;
CREATE INDEX cases_caller_number ON cases (caller_number);
CREATE INDEX cases_department_id ON cases (department_id);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_created_at ON cases (created_at);

-- 申请延期: a department asks for more working days; a supervisor approves or refuses.
-- At most one pending request per case.
CREATE TABLE extension_requests (
    id           BIGSERIAL   PRIMARY KEY,
    case_id      BIGINT NOT NULL REFERENCES cases (id),
    days         BIGINT NOT NULL CHECK (days > 0),
    reason       TEXT        NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    requested_by TEXT        NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    decided_by   TEXT,
    decided_at TIMESTAMPTZ
);
CREATE INDEX extension_requests_case_id ON extension_requests (case_id);
CREATE UNIQUE INDEX extension_requests_one_pending ON extension_requests (case_id)
    WHERE status = 'pending';

-- People who log in to the HTTP API. A department handler belongs to exactly one
-- department; nobody else does. Never deleted, only disabled.
CREATE TABLE users (
    id            BIGSERIAL   PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    name          TEXT        NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'department_handler', 'admin')),
    department_id BIGINT REFERENCES departments (id),
    password_hash TEXT    NOT NULL, -- argon2id PHC string
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((role = 'department_handler') = (department_id IS NOT NULL))
);

-- Login sessions: only the SHA-256 of the token is kept.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
