-- A case whose caller left a voicemail is a voicemail case (channel `voicemail`), as
-- `CaseStore::mark_voicemail` now records it; cases marked before this kept `phone`.
UPDATE cases SET channel = 'voicemail'
WHERE channel = 'phone'
  AND id IN (SELECT case_id FROM case_events WHERE event = 'voicemail');
