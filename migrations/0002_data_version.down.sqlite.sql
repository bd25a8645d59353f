-- 0002 data_version (SQLite), undone.
DROP TRIGGER task_version_insert;
DROP TRIGGER task_version_update;
DROP TRIGGER task_version_delete;
ALTER TABLE task DROP COLUMN rev;
DROP TABLE data_version;
