/* cache/session_codec.c - placeholder; filled in by its owner. */
