-- 0001 create_task, undone.
DROP TABLE task;
