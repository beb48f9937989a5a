-- The callback worklist (see crates/case/src/callback.rs): one row per citizen the hotline
-- owes a call, and one row per attempt. place_at (arrival of the case's first call) keeps
-- the place of a caller who chose a callback instead of waiting.
CREATE TABLE callback_tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    number          TEXT    NOT NULL,
    reason          TEXT    NOT NULL CHECK (reason IN ('voicemail', 'callback_requested', 'revisit')),
    priority        INTEGER NOT NULL DEFAULT 0,
    place_at        TEXT    NOT NULL,
    earliest_at     TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'in_progress', 'done', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    next_attempt_at TEXT    NOT NULL,
    last_result     TEXT    CHECK (last_result IN ('reached', 'no_answer', 'busy', 'rejected', 'wrong_number')),
    agent           TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX callback_tasks_due ON callback_tasks (status, next_attempt_at);
CREATE INDEX callback_tasks_case ON callback_tasks (case_id);

CREATE TABLE callback_attempts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES callback_tasks (id),
    at      TEXT    NOT NULL,
    result  TEXT    NOT NULL CHECK (result IN ('reached', 'no_answer', 'busy', 'rejected', 'wrong_number')),
    agent   TEXT    NOT NULL,
    note    TEXT
);
CREATE INDEX callback_attempts_task ON callback_attempts (task_id);
