-- Calls that ended before we answered them (caller cancelled while ringing): no case was
-- opened, but they count against the answer rate (接通率) and may deserve a callback.
CREATE TABLE missed_calls (
    id            BIGSERIAL PRIMARY KEY,
    sip_call_id   TEXT        NOT NULL,
    caller_number TEXT        NOT NULL,
    called_number TEXT        NOT NULL,
    arrived_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ NOT NULL,
    cause         TEXT        NOT NULL
);
CREATE INDEX missed_calls_arrived_at ON missed_calls (arrived_at);
