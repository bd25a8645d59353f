/* cache/client.c - placeholder; filled in by its owner. */
