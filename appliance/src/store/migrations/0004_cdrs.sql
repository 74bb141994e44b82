-- One row per call (written when it ends). Natural keys only: a config change never cascades here.
-- Replaces the placeholder table of 0001, which nothing ever wrote.
DROP INDEX IF EXISTS cdrs_started;
DROP TABLE IF EXISTS cdrs;
CREATE TABLE cdrs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call        TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    caller      TEXT NOT NULL,
    callee      TEXT NOT NULL,
    dialled     TEXT NOT NULL,
    start       INTEGER NOT NULL,
    answer      INTEGER,
    end         INTEGER NOT NULL,
    duration    INTEGER NOT NULL,
    disposition TEXT NOT NULL,
    status      INTEGER,
    hangup      TEXT NOT NULL,
    legs        INTEGER NOT NULL,
    route       TEXT NOT NULL,
    media       TEXT
);
CREATE INDEX cdrs_tenant_start ON cdrs (tenant, start);
CREATE INDEX cdrs_start ON cdrs (start);
