/* app/api.c - placeholder; filled in by its owner. */
