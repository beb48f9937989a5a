-- Issue 11: agents' softphone registrations survive a restart of the node (the registrar
-- is in memory; these rows are written after each REGISTER and read back at start).
CREATE TABLE registrations (
    extension  TEXT    NOT NULL,
    contact    TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    transport  TEXT    NOT NULL,
    call_id    TEXT    NOT NULL,
    cseq       BIGINT  NOT NULL,
    q          DOUBLE PRECISION,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (extension, contact)
);
