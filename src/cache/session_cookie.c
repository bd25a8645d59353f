/* cache/session_cookie.c - placeholder; filled in by its owner. */
