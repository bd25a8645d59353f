#!/usr/bin/env python3
"""conf/install_ini.py - the installed tasklist.ini: conf/tasklist.ini with the
values of an installed service set (socket, database, monitoring paths).

usage: install_ini.py SRC OUT SECTION.KEY=VALUE...

Every comment and key of SRC is kept; each SECTION.KEY line is replaced by
"KEY = VALUE". A SECTION.KEY that SRC does not have is an error, so the
installed file can never gain a key the documented one lacks.
"""
import re
import sys


def main(argv):
    src, out, sets = argv[1], argv[2], argv[3:]
    want = {}
    for s in sets:
        k, v = s.split("=", 1)
        want[k] = v
    section, lines, done = None, [], set()
    for line in open(src, encoding="utf-8").read().splitlines():
        m = re.match(r"\[(\w+)\]\s*$", line)
        if m:
            section = m.group(1)
        m = re.match(r"(\w+) =", line)
        if m and section and f"{section}.{m.group(1)}" in want:
            key = f"{section}.{m.group(1)}"
            line = f"{m.group(1)} = {want[key]}"
            done.add(key)
        lines.append(line)
    missing = sorted(set(want) - done)
    if missing:
        sys.exit(f"install_ini.py: {src} has no key {', '.join(missing)}")
    head = ("; Installed configuration of tasklist (see tasklist.ini(5)). Secrets such as\n"
            "; SECRET_KEY and MEMCACHIER_PASSWORD belong in the root-only env file next to\n"
            "; this one (read by systemd), not here.\n")
    with open(out, "w", encoding="utf-8") as f:
        f.write(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv)
