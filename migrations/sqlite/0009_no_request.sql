-- Issue 10: a call that asked for nothing (a status query by phone, a hang-up in the
-- greeting, the menu or the queue) is not a work order. New calls open their case row in
-- `no_request`, which becomes `registered` when an agent answers; rows written before
-- this migration are moved there when nothing shows a request: a phone case still
-- `registered` with no category, subject or description, none of whose calls an agent
-- answered and on which no person acted. The move is audited like any status change.
INSERT INTO case_events (case_id, at, actor, event, from_status, to_status, note)
SELECT id, updated_at, 'system', 'no_request', 'registered', 'no_request',
       'migration 0009: the call made no request'
FROM cases
WHERE status = 'registered' AND channel = 'phone'
  AND category IS NULL AND subject IS NULL AND description IS NULL
  AND NOT EXISTS (SELECT 1 FROM calls WHERE calls.case_id = cases.id
                                        AND calls.agent_answered_at IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = cases.id
                                               AND e.actor <> 'system');

UPDATE cases SET status = 'no_request'
WHERE status = 'registered' AND channel = 'phone'
  AND category IS NULL AND subject IS NULL AND description IS NULL
  AND NOT EXISTS (SELECT 1 FROM calls WHERE calls.case_id = cases.id
                                        AND calls.agent_answered_at IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = cases.id
                                               AND e.actor <> 'system');
