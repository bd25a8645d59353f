-- 0002 data_version (SQLite): the database says what changed, in the same
-- transaction as the change (docs/consistency.md).
-- data_version.version moves on every insert, update and delete of task, by
-- triggers, so a write by any client (the app, the sqlite3 command line,
-- another program) moves it. It starts at the creation time in microseconds,
-- so a database created anew never hands out a version the old one used.
-- task.rev is the data version at the row's last write: the key of its
-- template fragment (Rails' cache_key_with_version).
CREATE TABLE data_version (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO data_version (name, version)
    VALUES ('task', CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
ALTER TABLE task ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
UPDATE task SET rev = (SELECT version FROM data_version WHERE name = 'task');
CREATE TRIGGER task_version_insert AFTER INSERT ON task
BEGIN
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
    UPDATE task SET rev = (SELECT version FROM data_version WHERE name = 'task') WHERE id = NEW.id;
END;
-- "OF id, name": the rev update above does not fire it again.
CREATE TRIGGER task_version_update AFTER UPDATE OF id, name ON task
BEGIN
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
    UPDATE task SET rev = (SELECT version FROM data_version WHERE name = 'task') WHERE id = NEW.id;
END;
CREATE TRIGGER task_version_delete AFTER DELETE ON task
BEGIN
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
END;
