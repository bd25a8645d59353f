/* cache/fragment.c - placeholder; filled in by its owner. */
