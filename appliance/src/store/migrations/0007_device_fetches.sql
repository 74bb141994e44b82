-- The last time each phone fetched its device file (the web UI's phones page shows it).
CREATE TABLE device_fetches (
    mac     TEXT PRIMARY KEY,
    at      INTEGER NOT NULL,                 -- Unix seconds
    via     TEXT NOT NULL,                    -- tftp, https
    client  TEXT NOT NULL                     -- the address it came from
);
