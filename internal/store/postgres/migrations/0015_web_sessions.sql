-- Dashboard sessions, kept in the store so that a restart does not sign
-- anyone out and replicas share them. The cookie's value is kept only as
-- its SHA-256.
CREATE TABLE web_sessions (
  id_hash    bytea PRIMARY KEY,
  key_hash   bytea NOT NULL,
  csrf       text NOT NULL,
  flash      text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  seen_at    timestamptz NOT NULL
);
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);
