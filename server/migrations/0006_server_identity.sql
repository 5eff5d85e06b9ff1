-- Which server keys set this database up (the challenge public key, and a value sealed
-- under the master key): a node started with other keys refuses to start (issue 19).
CREATE TABLE server_identity (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
