/* cache/cached.c - placeholder; filled in by its owner. */
