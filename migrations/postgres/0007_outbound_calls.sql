-- Outbound calls made for callback tasks (see crates/case/src/callback.rs): the call row
-- of an attempt, the after-call survey answer on the call it was given on, and how a
-- task is dialled. An 'agent' task rings an agent first and then the citizen; an 'auto'
-- task is dialled by the IVR itself, which asks the revisit (回访) question.
-- BIGINT like cases.satisfaction, so both backends decode the same i64.
ALTER TABLE calls
    ADD COLUMN satisfaction     BIGINT CHECK (satisfaction BETWEEN 1 AND 3),
    ADD COLUMN callback_task_id BIGINT REFERENCES callback_tasks (id);
CREATE INDEX calls_callback_task ON calls (callback_task_id);

-- NULL when the attempt was reported by hand (no call row to point at).
ALTER TABLE callback_attempts ADD COLUMN call_id BIGINT REFERENCES calls (id);

ALTER TABLE callback_tasks ADD COLUMN mode TEXT NOT NULL DEFAULT 'agent'
    CHECK (mode IN ('agent', 'auto'));
