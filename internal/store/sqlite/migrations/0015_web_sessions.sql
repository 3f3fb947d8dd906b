-- Dashboard sessions, kept in the store so that a restart does not sign
-- anyone out and replicas share them. The cookie's value is kept only as
-- its SHA-256.
CREATE TABLE web_sessions (
  id_hash    BLOB PRIMARY KEY,
  key_hash   BLOB NOT NULL,
  csrf       TEXT NOT NULL,
  flash      TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  seen_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);
