-- 0002 data_version (MariaDB): the database says what changed, in the same
-- transaction as the change (docs/consistency.md).
-- data_version.version moves on every insert, update and delete of task, by
-- triggers, so a write by any client (the app, the mariadb command line,
-- another program) moves it. It starts at the creation time in microseconds,
-- so a database created anew never hands out a version the old one used.
-- task.rev is the data version at the row's last write: the key of its
-- template fragment (Rails' cache_key_with_version).
-- Each trigger is one statement (the migration runner splits at ';'); two
-- BEFORE triggers run in order (FOLLOWS, MariaDB >= 10.2.3). The row lock
-- the UPDATE takes serialises concurrent writers on the version row until
-- they commit. With binary logging on, creating triggers needs SUPER or
-- log_bin_trust_function_creators = 1.
CREATE TABLE data_version (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    version BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO data_version (name, version)
    VALUES ('task', CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED));
ALTER TABLE task ADD COLUMN rev BIGINT UNSIGNED NOT NULL DEFAULT 0;
UPDATE task SET rev = (SELECT version FROM data_version WHERE name = 'task');
CREATE TRIGGER task_version_insert BEFORE INSERT ON task FOR EACH ROW
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
CREATE TRIGGER task_rev_insert BEFORE INSERT ON task FOR EACH ROW FOLLOWS task_version_insert
    SET NEW.rev = (SELECT version FROM data_version WHERE name = 'task');
CREATE TRIGGER task_version_update BEFORE UPDATE ON task FOR EACH ROW
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
CREATE TRIGGER task_rev_update BEFORE UPDATE ON task FOR EACH ROW FOLLOWS task_version_update
    SET NEW.rev = (SELECT version FROM data_version WHERE name = 'task');
CREATE TRIGGER task_version_delete AFTER DELETE ON task FOR EACH ROW
    UPDATE data_version SET version = version + 1 WHERE name = 'task';
