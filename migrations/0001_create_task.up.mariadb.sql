-- 0001 create_task (MariaDB): InnoDB persists AUTO_INCREMENT across restarts
-- (MariaDB >= 10.2), so ids are never reused. utf8mb4 keeps any Unicode
-- name, including characters outside the BMP. TEXT: the length limit is the
-- application's (name_max), not the column's.
CREATE TABLE task (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
