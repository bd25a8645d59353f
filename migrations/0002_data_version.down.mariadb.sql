-- 0002 data_version (MariaDB), undone.
DROP TRIGGER task_rev_insert;
DROP TRIGGER task_version_insert;
DROP TRIGGER task_rev_update;
DROP TRIGGER task_version_update;
DROP TRIGGER task_version_delete;
ALTER TABLE task DROP COLUMN rev;
DROP TABLE data_version;
