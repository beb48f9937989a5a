-- Work orders through their whole life: departments, the work-order fields of a case,
-- extension requests, and the users and sessions of the HTTP API.
-- Times are UTC, stored as RFC 3339 text. `cases.status` stays TEXT: it holds the
-- lifecycle state's name (lifecycle::CaseState::as_str), checked in Rust; the three
-- values written before this migration (registered, voicemail, callback_pending) are
-- lifecycle states too, so old rows need no change.

-- The network units (承办单位): 一级 city bureaus and districts, 二级 streets and
-- sub-units, 三级 communities. Never deleted (cases name them), only made inactive.
CREATE TABLE departments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code       TEXT    NOT NULL UNIQUE CHECK (code <> ''),
    name       TEXT    NOT NULL CHECK (name <> ''),
    parent_id  INTEGER REFERENCES departments (id),
    level      INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT    NOT NULL,
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
ALTER TABLE cases ADD COLUMN department_id   INTEGER REFERENCES departments (id);
ALTER TABLE cases ADD COLUMN dispatch_mode   TEXT CHECK (dispatch_mode IN ('phone', 'written', 'urgent'));
ALTER TABLE cases ADD COLUMN deadline        TEXT;
ALTER TABLE cases ADD COLUMN confidential    INTEGER NOT NULL DEFAULT 0 CHECK (confidential IN (0, 1));
ALTER TABLE cases ADD COLUMN satisfaction    INTEGER CHECK (satisfaction BETWEEN 1 AND 3);
ALTER TABLE cases ADD COLUMN urge_count      INTEGER NOT NULL DEFAULT 0 CHECK (urge_count >= 0);
ALTER TABLE cases ADD COLUMN redo_count      INTEGER NOT NULL DEFAULT 0 CHECK (redo_count >= 0);
ALTER TABLE cases ADD COLUMN returned_reason TEXT;
ALTER TABLE cases ADD COLUMN resolved_at     TEXT;
ALTER TABLE cases ADD COLUMN closed_at       TEXT;
CREATE INDEX cases_caller_number ON cases (caller_number);
CREATE INDEX cases_department_id ON cases (department_id);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_created_at ON cases (created_at);

-- 申请延期: a department asks for more working days; a supervisor approves or refuses.
-- At most one pending request per case.
CREATE TABLE extension_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    days         INTEGER NOT NULL CHECK (days > 0),
    reason       TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    requested_by TEXT    NOT NULL,
    requested_at TEXT    NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT
);
CREATE INDEX extension_requests_case_id ON extension_requests (case_id);
CREATE UNIQUE INDEX extension_requests_one_pending ON extension_requests (case_id)
    WHERE status = 'pending';

-- People who log in to the HTTP API. A department handler belongs to exactly one
-- department; nobody else does. Never deleted, only disabled.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'department_handler', 'admin')),
    department_id INTEGER REFERENCES departments (id),
    password_hash TEXT    NOT NULL, -- argon2id PHC string
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT    NOT NULL,
    CHECK ((role = 'department_handler') = (department_id IS NOT NULL))
);

-- Login sessions: only the SHA-256 of the token is kept.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
