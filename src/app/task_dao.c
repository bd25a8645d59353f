/* app/task_dao.c - placeholder; filled in by its owner. */
