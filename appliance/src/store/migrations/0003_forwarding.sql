-- Call forwarding on extensions (docs/site-config.md, "Forwarding"). Targets are numbers as
-- dialled, not row references: an extension, ring group or DID of the same tenant, or an
-- outside number; site validation checks them before every apply. NULL means "no forward".
-- Existing extensions get no forwarding and the default of 20 seconds.
ALTER TABLE extensions ADD COLUMN forward_always TEXT;
ALTER TABLE extensions ADD COLUMN forward_busy TEXT;
ALTER TABLE extensions ADD COLUMN forward_no_answer TEXT;
ALTER TABLE extensions ADD COLUMN no_answer_secs INTEGER NOT NULL DEFAULT 20
    CHECK (no_answer_secs BETWEEN 5 AND 120);
