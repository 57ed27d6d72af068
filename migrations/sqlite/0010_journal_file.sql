-- The journal moves to a database file of its own, attached as `journal`
-- (created by the server before migrations run): SQLite has one writer per
-- file, and recording requests must not hold up writes of users.
-- Whatever the journal file held cannot belong to this database yet.
DELETE FROM journal.journal;
DELETE FROM journal.journal_owner;
INSERT INTO journal.journal SELECT * FROM main.journal;
DROP TABLE main.journal;
-- Ties the journal file to this database: a journal file left from another
-- database (one deleted and created again) is emptied on start, so no
-- company sees entries of another's ids.
CREATE TABLE database_identity (id TEXT NOT NULL);
INSERT INTO database_identity VALUES (lower(hex(randomblob(16))));
INSERT INTO journal.journal_owner SELECT id FROM database_identity;
