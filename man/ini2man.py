#!/usr/bin/env python3
"""man/ini2man.py - tasklist.ini(5), generated from conf/tasklist.ini at build time
so the manual page and the documented ini can never drift.

usage: ini2man.py INI OUT VERSION SYSCONFDIR

The ini's leading comment becomes DESCRIPTION; each [section] a subsection;
each key an entry with its default (the value in the ini, which a unit test
holds equal to the built-in default) and the comment lines above it.
"Environment: NAME" in a comment lists NAME under ENVIRONMENT.
"""
import re
import sys


def esc(text):
    text = text.replace("\\", "\\e")
    return "\n".join(("\\&" + l) if l[:1] in (".", "'") else l for l in text.split("\n"))


def parse(path):
    head, sections, comment, section = [], [], [], None
    for raw in open(path, encoding="utf-8").read().splitlines():
        line = raw.strip()
        if line.startswith((";", "#")):
            comment.append(line[1:].strip())
            continue
        if not line:
            if section is None and comment:
                head, comment = head + comment + [""], []
            continue
        m = re.match(r"\[(\w+)\]$", line)
        if m:
            if section is None and comment:
                head, comment = head + comment, []
            section = (m.group(1), [])
            sections.append(section)
            continue
        k, v = (x.strip() for x in line.split("=", 1))
        section[1].append((k, v, comment))
        comment = []
    return head, sections


def main(argv):
    ini, out, version, sysconfdir = argv[1:5]
    head, sections = parse(ini)
    envs = []
    o = [f'.TH TASKLIST.INI 5 "" "tasklist {version}" "File Formats"',
         ".SH NAME", "tasklist.ini \\- configuration of the tasklist FastCGI pool",
         ".SH SYNOPSIS", f".I {sysconfdir}/tasklist.ini",
         ".SH DESCRIPTION"]
    para = []
    if head and head[0].startswith("conf/tasklist.ini - "):
        head[0] = head[0][len("conf/tasklist.ini - "):]
    for l in head:
        if not l:
            if para:
                o += [esc(" ".join(para)), ".PP"]
            para = []
        else:
            para.append(l)
    if para:
        o.append(esc(" ".join(para)))
    o += [".PP", f"Without \\fB\\-\\-config\\fR, tasklist reads \\fIconf/tasklist.ini\\fR in the "
          f"working directory when there is one, else \\fI{sysconfdir}/tasklist.ini\\fR.",
          ".SH KEYS"]
    for name, keys in sections:
        o.append(f".SS [{name}]")
        for k, v, comment in keys:
            o += [".TP", f".B {k}", f"Default: {esc(v) if v else 'empty'}."]
            text = " ".join(comment)
            if text:
                o.append(esc(text))
            for group in re.findall(r"Environment: ([A-Z_, ]+)", text):
                for n in re.split(r"[, ]+", group):
                    if n and not n.startswith("TASKLIST_"):   # the generic form, listed once below
                        envs.append((n, name, [x for x, _, _ in keys]))
    o += [".SH ENVIRONMENT",
          "Every key can be set as \\fBTASKLIST_\\fISECTION\\fB_\\fIKEY\\fR (upper case); "
          "the environment overrides the file and \\fI.env\\fR in the working directory. "
          "The tutorial's names work as they are:"]
    for n, section, names in envs:
        # MEMCACHIER_PASSWORD -> password, DATABASE_URL -> url, SECRET_KEY -> secret_key
        key = next((c for c in (n.lower(), n.split("_", 1)[-1].lower()) if c in names), None)
        if key is None:
            sys.exit(f"ini2man.py: {ini}: no key of [{section}] for the environment name {n}")
        o += [".TP", f".B {n}", f"[{section}] {key}"]
    o += [".SH FILES", ".TP", f".I {sysconfdir}/tasklist.ini", "this file",
          ".TP", f".I {sysconfdir}/env",
          "secrets as NAME=VALUE lines (mode 0600, read by systemd's EnvironmentFile=)",
          ".SH SEE ALSO", ".BR tasklist (1)"]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main(sys.argv)
