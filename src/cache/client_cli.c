/* cache/client_cli.c - placeholder; filled in by its owner. */
