/* cache/client_keys.c - placeholder; filled in by its owner. */
