#!/usr/bin/env python3
"""tests/template/jinja_ref.py - renders every case of tests/template/cases with
real Jinja2 (Debian's python3-jinja2) and checks the stored expectations.

It guards the expectations themselves: the C runner (test_template_cases)
compares our engine with the same expectations, so both engines agree.

Set-up equals Flask's: autoescape for .html/.htm/.xml/.xhtml/.svg, default
Undefined, trim_blocks/lstrip_blocks/keep_trailing_newline off, globals url_for
and get_flashed_messages, and a {% cache %} extension that builds
Flask-Caching's key and reads/writes a dict preset by the case.

For an expected error, Jinja2 must raise too; for a syntax error its line must
be ours, unless the case documents Jinja2's line with "@@ jinja-line N".

Usage: jinja_ref.py CASES_FILE [CASE_NAME]   (exit 77 when jinja2 is missing)
"""
import json
import sys

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from markupsafe import Markup
except ImportError:
    print("python3-jinja2 is not installed")
    sys.exit(77)


def read_cases(path):
    cases, case, section = [], None, None
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    buf = []

    def close():
        nonlocal section, buf
        if section is not None:
            case_, key = section
            text = "\n".join(buf)
            if key[0] == "template":
                case_["templates"][key[1]] = text
            else:
                case_[key[0]] = text
        section, buf = None, []

    for i, line in enumerate(lines):
        if line.startswith("@@"):
            close()
            if line.startswith("@@#"):
                continue
            parts = line[3:].split(" ", 1)
            word, arg = parts[0], (parts[1] if len(parts) > 1 else None)
            if word == "case":
                case = {"name": arg, "line": i + 1, "templates": {}, "order": []}
                cases.append(case)
            elif word == "template":
                case["order"].append(arg)
                section = (case, ("template", arg))
            elif word in ("context", "flashes", "cache", "expect", "calls", "expect-jinja"):
                section = (case, (word,))
            elif word in ("error", "render", "jinja-line"):
                case[word] = arg
            else:
                raise SystemExit(f"{path}:{i + 1}: unknown directive {word!r}")
        elif section is not None:
            buf.append(line)
    # the file's final newline ends the last line; it is not content
    if section is not None and buf and buf[-1] == "":
        buf.pop()
    close()
    return cases


def to_value(v):
    if isinstance(v, dict):
        if list(v.keys()) == ["__safe__"]:
            return Markup(v["__safe__"])
        return {k: to_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_value(x) for x in v]
    return v


def url_for(endpoint, **kw):
    """Same routes as fake_url_for in test_template_cases.c."""
    used = None
    if endpoint == "task_list.index":
        url = "/"
    elif endpoint in ("task_list.delete", "static"):
        used = "id" if endpoint == "task_list.delete" else "filename"
        if used not in kw:
            raise ValueError("missing " + used)
        url = ("/%s/delete" if used == "id" else "/static/%s") % (kw[used],)
    else:
        raise ValueError("unknown endpoint " + endpoint)
    query = [f"{k}={v}" for k, v in kw.items() if k != used]
    return url + ("?" + "&".join(query) if query else "")


class CacheExtension(Extension):
    """Flask-Caching's {% cache timeout, name, vary... %} over a dict."""
    tags = {"cache"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        args = [parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            args.append(parser.parse_expression())
        body = parser.parse_statements(["name:endcache"], drop_needle=True)
        call = self.call_method("_cache", [nodes.List(args)])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _cache(self, args, caller):
        timeout, name, *vary = args
        key = "_template_fragment_cache_" + str(name)
        if vary:
            key += "_" + "_".join(str(v) for v in vary)
        store = self.environment.frag_store
        if key in store:
            return Markup(store[key])
        rv = caller()
        store[key] = rv
        return rv


def autoescape(name):
    return name is not None and name.endswith((".html", ".htm", ".xml", ".xhtml", ".svg"))


def run(case):
    env = jinja2.Environment(loader=jinja2.DictLoader(case["templates"]),
                             autoescape=autoescape, extensions=[CacheExtension])
    flashes = json.loads(case["flashes"]) if case.get("flashes") else []
    env.globals["url_for"] = url_for
    # strings (category "message", as Flask's flash()) or [category, message] pairs
    pairs = [tuple(m) if isinstance(m, list) else ("message", m) for m in flashes]
    env.globals["get_flashed_messages"] = lambda with_categories=False: (
        list(pairs) if with_categories else [m for _, m in pairs])
    env.frag_store = dict(json.loads(case["cache"])) if case.get("cache") else {}
    ctx = to_value(json.loads(case["context"])) if case.get("context") else {}
    for name in case["order"]:   # compile everything, as tpl_set_from_strings does
        env.get_template(name)
    target = case.get("render") or case["order"][0]
    return env.get_template(target).render(ctx)


def fill(path):
    """Authoring aid: replace each "@@ expect-jinja" section by "@@ expect"
    and the text Jinja2 renders for that case. Prints the new file."""
    cases = {c["line"]: c for c in read_cases(path)}
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    out, case, skipping = [], None, False
    for i, line in enumerate(lines):
        if line.startswith("@@"):
            skipping = False
            if line.startswith("@@ case "):
                case = cases[i + 1]
            if line == "@@ expect-jinja":
                try:
                    got = run(case)
                except Exception as e:
                    raise SystemExit(f"case {case['name']}: {type(e).__name__}: {e}")
                if any(x.startswith("@@") for x in got.split("\n")):
                    raise SystemExit(f"line {i + 1}: output has a line starting with @@")
                out.append("@@ expect")
                out.extend(got.split("\n") if got != "" else [])
                skipping = True
                continue
        elif skipping:
            continue
        out.append(line)
    sys.stdout.write("\n".join(out))


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "--fill":
        fill(sys.argv[2])
        return 0
    cases = read_cases(sys.argv[1])
    only = sys.argv[2] if len(sys.argv) > 2 else None
    failed = ran = 0
    for idx, case in enumerate(cases):
        if only and case["name"] != only:
            continue
        ran += 1
        where = f'case {idx} "{case["name"]}" (line {case["line"]})'
        try:
            got = run(case)
        except Exception as e:  # noqa: BLE001 - any Jinja2 error is an outcome
            if "error" not in case:
                print(f"FAIL {where}: jinja2 raised {type(e).__name__}: {e}")
                failed += 1
                continue
            want_line = int(case["error"].split(" ", 1)[0].split(":")[1])
            if case.get("jinja-line"):
                want_line = int(case["jinja-line"])
            if isinstance(e, jinja2.TemplateSyntaxError) and e.lineno != want_line:
                print(f"FAIL {where}: jinja2 reports line {e.lineno}, expected {want_line}: {e}")
                failed += 1
            continue
        if "error" in case:
            print(f"FAIL {where}: expected an error, jinja2 rendered {got!r}")
            failed += 1
        elif got != case.get("expect", ""):
            print(f"FAIL {where}: jinja2 output differs\n  want: {case.get('expect', '')!r}\n"
                  f"  got:  {got!r}")
            failed += 1
    print(f"{ran} cases, {failed} failed (jinja2 {jinja2.__version__})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
