-- Portal accounts: the login of an extension's user in the web UI's portal. The account is a
-- row of admin_users with role 'user' (so its sessions are the API's, in `sessions`), bound
-- here to the one extension it may change.
CREATE TABLE portal_accounts (
    username  TEXT PRIMARY KEY REFERENCES admin_users(username) ON DELETE CASCADE,
    tenant    TEXT NOT NULL,
    number    TEXT NOT NULL,
    set_at    INTEGER NOT NULL,              -- Unix seconds the admin last set the password
    UNIQUE (tenant, number)
);
