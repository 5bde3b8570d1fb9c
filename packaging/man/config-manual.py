#!/usr/bin/env python3
"""Writes authd.toml(5), in mdoc, from the commented configuration file the package ships.

packaging/authd.toml is the one description of every key: its comments become the manual's text,
its `#key = default` lines the defaults, and its commented examples (`# [fleet]` …) literal blocks.
So the manual cannot drift from the file an operator edits.

Usage: config-manual.py CONFIG DATE > authd.toml.5    (DATE as "December 1, 2026")
"""
import re
import sys

KEY_DEFAULT = re.compile(r"^#([a-z_0-9]+ = .*)$")          # #ttl = "15m": a key at its default
EXAMPLE = re.compile(r"^(\[\[?[a-z_.]+\]\]?|[a-z_0-9]+ = .*)")  # # [fleet] / # node = "web-1"
TABLE = re.compile(r"^\[([a-z_.]+)\]$")


def escape(text):
    text = text.replace("\\", "\\e")
    return "\\&" + text if text.startswith((".", "'")) else text


def main(path, date):
    lines = open(path, encoding="utf-8").read().splitlines()
    out = [
        f".Dd {date}", ".Dt AUTHD.TOML 5", ".Os", ".Sh NAME", ".Nm authd.toml",
        ".Nd configuration file of the authd token daemon", ".Sh SYNOPSIS", ".Pa /etc/authd/authd.toml",
        ".Sh DESCRIPTION",
    ]
    # The file's own header, up to the first table, is the description (its title line excepted).
    first_table = next(i for i, line in enumerate(lines) if TABLE.match(line))
    paragraph = []
    for line in lines[1:first_table]:
        text = line[1:].strip() if line.startswith("#") else ""
        if text:
            paragraph.append(escape(text))
        elif paragraph:
            out += [".Pp"] + paragraph
            paragraph = []
    if paragraph:
        out += [".Pp"] + paragraph
    out += [
        ".Pp",
        "Each table below lists its keys at their defaults; a commented example shows a table that is",
        "absent by default.",
        ".Sh TABLES",
    ]

    # The rest, in groups separated by blank lines: text, then keys or an example.
    groups, group = [], []
    for line in lines[first_table:]:
        if not line.strip():
            if group:
                groups.append(group)
            group = []
        else:
            group.append(line)
    if group:
        groups.append(group)

    for group in groups:
        body = group
        table = TABLE.match(group[0])
        if table:
            out.append(f".Ss [{table.group(1)}]")
            body = group[1:]
        else:
            # A commented example of a whole table starts its own subsection.
            for line in group:
                text = line[1:].strip()
                match = re.match(r"^(\[\[?[a-z_.]+\]\]?)$", text)
                if line.startswith("# ") and match:
                    out.append(f".Ss {match.group(1)}")
                    break
        text, literal = [], []

        def flush():
            if text:
                out.extend([".Pp"] + text)
                text.clear()
            if literal:
                out.extend([".Bd -literal -offset indent"] + literal + [".Ed"])
                literal.clear()

        for line in body:
            key = KEY_DEFAULT.match(line)
            comment = line[1:].strip() if line.startswith("#") else line
            if key:
                if text:
                    flush()
                literal.append(escape(key.group(1)))
            elif line.startswith("# ") and (EXAMPLE.match(line[2:]) or (literal and line[2:].startswith(" "))):
                literal.append(escape(line[2:]))
            elif not comment:
                flush()
            else:
                if literal:
                    flush()
                text.append(escape(comment))
        flush()

    out += [
        ".Sh FILES",
        ".Bl -tag -width Ds",
        ".It Pa /etc/authd/authd.toml",
        "This file. It is optional: every key has a default.",
        ".It Pa /var/lib/authd",
        "The state directory: signing keys and the database, private to the authd user.",
        ".El",
        ".Sh SEE ALSO",
        ".Xr authctl 1 ,",
        ".Xr authd 8 ,",
        ".Xr systemd.exec 5",
        ".Pp",
        "The README, in",
        ".Pa /usr/share/doc/authd/README.md ,",
        "covers the wire protocol, policy, fleets and the HTTP face in full.",
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
