-- Outpost store, schema 1. Config tables mirror the site config document and are rewritten
-- whole by one transaction per apply; runtime tables refer to config rows by their natural
-- keys (tenant name, extension number, MAC) so that an apply never cascades into them.

CREATE TABLE site_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    revision    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE tenants (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    display_name       TEXT NOT NULL,
    emergency_numbers  TEXT NOT NULL            -- JSON list
);

CREATE TABLE tenant_domains (
    domain     TEXT PRIMARY KEY,                -- unique across tenants: no collisions
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL
);

CREATE TABLE extensions (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number      TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret_enc  BLOB NOT NULL,                  -- AES-256-GCM under the box key
    UNIQUE (tenant_id, number)
);

CREATE TABLE devices (
    mac         TEXT PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    vendor      TEXT NOT NULL,
    model       TEXT NOT NULL,
    extension   TEXT
);

CREATE TABLE ring_groups (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    number          TEXT NOT NULL,
    name            TEXT NOT NULL,
    strategy        TEXT NOT NULL CHECK (strategy IN ('simultaneous', 'sequential')),
    member_timeout  INTEGER NOT NULL,
    members         TEXT NOT NULL,              -- JSON list of extension numbers, in hunt order
    UNIQUE (tenant_id, number)
);

CREATE TABLE trunks (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('cloud', 'fallback')),
    host          TEXT NOT NULL,
    port          INTEGER,
    transport     TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    username      TEXT,
    secret_enc    BLOB,
    max_channels  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE inbound_routes (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    did          TEXT NOT NULL,
    destination  TEXT NOT NULL,
    UNIQUE (tenant_id, did)
);

CREATE TABLE outbound_routes (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    pattern    TEXT NOT NULL,
    trunks     TEXT NOT NULL,                   -- JSON list of trunk names, in order
    strip      INTEGER NOT NULL,
    prepend    TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE dhcp_scopes (
    id                       INTEGER PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    interface                TEXT,
    network                  TEXT NOT NULL,
    range_start              TEXT NOT NULL,
    range_end                TEXT NOT NULL,
    router                   TEXT,
    dns                      TEXT NOT NULL,     -- JSON list
    ntp                      TEXT NOT NULL,     -- JSON list
    lease_time               INTEGER NOT NULL,
    authoritative            INTEGER NOT NULL,
    allow_secrets_over_tftp  INTEGER NOT NULL
);

CREATE TABLE dhcp_reservations (
    scope_id  INTEGER NOT NULL REFERENCES dhcp_scopes(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    mac       TEXT NOT NULL,
    ip        TEXT NOT NULL,
    UNIQUE (scope_id, mac),
    UNIQUE (scope_id, ip)
);

-- Runtime state, filled by later services.

CREATE TABLE registrations (
    tenant      TEXT NOT NULL,
    aor         TEXT NOT NULL,
    contact     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    source      TEXT NOT NULL,                  -- transport:ip:port the binding came from
    user_agent  TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    cseq        INTEGER NOT NULL,
    PRIMARY KEY (tenant, aor, contact)
);

CREATE TABLE dhcp_leases (
    ip          TEXT PRIMARY KEY,               -- one address, one MAC
    mac         TEXT NOT NULL,
    scope       TEXT NOT NULL,
    hostname    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    state       TEXT NOT NULL                   -- offered, bound, declined
);
CREATE INDEX dhcp_leases_mac ON dhcp_leases(mac);

CREATE TABLE cdrs (
    id           INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    caller       TEXT NOT NULL,
    callee       TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    answered_at  INTEGER,
    ended_at     INTEGER NOT NULL,
    disposition  TEXT NOT NULL,
    hangup_side  TEXT NOT NULL,
    detail       TEXT NOT NULL                  -- JSON: legs, media stats
);
CREATE INDEX cdrs_started ON cdrs(started_at);

CREATE TABLE discovered_devices (
    mac           TEXT PRIMARY KEY,
    vendor_guess  TEXT NOT NULL,
    model_guess   TEXT NOT NULL,
    seen_by       TEXT NOT NULL,                -- dhcp, tftp, https
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
);

CREATE TABLE admin_users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,               -- pbkdf2-sha256$iterations$salt$hash
    role           TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    must_change    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,               -- SHA-256 of the bearer token, never the token
    username    TEXT NOT NULL REFERENCES admin_users(username) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
