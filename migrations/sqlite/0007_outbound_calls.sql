-- Outbound calls made for callback tasks (see crates/case/src/callback.rs): the call row
-- of an attempt, the after-call survey answer on the call it was given on, and how a
-- task is dialled. An 'agent' task rings an agent first and then the citizen; an 'auto'
-- task is dialled by the IVR itself, which asks the revisit (回访) question.
ALTER TABLE calls ADD COLUMN satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 3);
ALTER TABLE calls ADD COLUMN callback_task_id INTEGER REFERENCES callback_tasks (id);
CREATE INDEX calls_callback_task ON calls (callback_task_id);

-- NULL when the attempt was reported by hand (no call row to point at).
ALTER TABLE callback_attempts ADD COLUMN call_id INTEGER REFERENCES calls (id);

ALTER TABLE callback_tasks ADD COLUMN mode TEXT NOT NULL DEFAULT 'agent'
    CHECK (mode IN ('agent', 'auto'));
