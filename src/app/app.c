/* app/app.c - placeholder; filled in by its owner. */
