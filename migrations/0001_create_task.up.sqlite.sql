-- 0001 create_task (SQLite): the task table of the tutorial.
-- AUTOINCREMENT: ids are never reused, even after the highest one is deleted
-- (rowids alone would be).
CREATE TABLE task (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL
);
