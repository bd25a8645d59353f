/* app/views.c - placeholder; filled in by its owner. */
