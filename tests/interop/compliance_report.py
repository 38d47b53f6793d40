#!/usr/bin/env python3
"""The TLS 1.3 compliance report (docs/COMPLIANCE.md).

Reads RFC 8446 and the TLS sections of RFC 9001 (§4 Carrying TLS Messages,
§8 QUIC-Specific Adjustments to the TLS Handshake) from docs/specs/, lists
every sentence with MUST, MUST NOT, SHALL, SHALL NOT or REQUIRED by section,
and says for each section where the code cites it, which tests cite it, and
which sections are not applicable (docs/specs/compliance-notes.txt gives the
reasons). Nothing outside the repository is read.

A citation is a section reference in a source comment: "RFC 8446 §4.2.10",
"RFC 9001 §8.4", "App. D.4", "Appendix D.4". In TLS files (src/tls/,
include/handoff/tls.h, tests/test_tls*, tests/test_record.c, tests/tls_*,
tests/interop/tls_*) a bare "§4.2.10" means RFC 8446; elsewhere a bare "§"
counts only after an "RFC NNNN §" on the same line (it continues that RFC).

  compliance_report.py --write   regenerate docs/COMPLIANCE.md
  compliance_report.py --check   exit 1 (and show the difference) when the
                                 committed report is stale
"""
import difflib
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPECS = os.path.join(ROOT, "docs", "specs")
REPORT = os.path.join(ROOT, "docs", "COMPLIANCE.md")
NOTES = os.path.join(SPECS, "compliance-notes.txt")
SELF = os.path.relpath(os.path.abspath(__file__), ROOT)

# (rfc number, file, the top-level sections in scope or None for all)
RFCS = [
    ("8446", "rfc8446.txt", None),
    ("9001", "rfc9001.txt", {"4", "8"}),
]

KEYWORD = re.compile(r"\b(MUST NOT|MUST|SHALL NOT|SHALL|REQUIRED)\b")
HEADING = re.compile(r"^(?:Appendix\s+)?((?:\d+|[A-Z])(?:\.\d+)*)\.\s+(\S.*)$")
PAGE_FOOTER = re.compile(r"^\S.*\[Page \d+\]\s*$")
PAGE_HEADER = re.compile(r"^RFC \d{4}\s{2,}.*\s{2,}\w+ \d{4}\s*$")


def section_key(sec):
    """Sort key: numbers numerically, appendices (letters) after them."""
    out = []
    for part in sec.split("."):
        out.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return out


def read_rfc(path):
    """Yields (section, title, paragraph text) for the body of the RFC."""
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    # Drop page footers/headers with the blank lines around them, so a
    # paragraph broken by a page continues.
    lines = []
    i = 0
    while i < len(raw):
        line = raw[i].replace("\f", "")
        if PAGE_FOOTER.match(line):
            while lines and lines[-1].strip() == "":
                lines.pop()
            i += 1
            while i < len(raw) and (raw[i].replace("\f", "").strip() == "" or
                                    PAGE_HEADER.match(raw[i].replace("\f", ""))):
                i += 1
            continue
        lines.append(line)
        i += 1
    section, title, para = None, None, []
    in_body = False
    for line in lines:
        m = HEADING.match(line)
        if m:
            if m.group(1) == "1" and not in_body:
                in_body = True  # the table of contents is indented; this is the first real heading
            if in_body:
                if para and section:
                    yield section, title, " ".join(para)
                section, title, para = m.group(1), m.group(2).strip(), []
                continue
        if not in_body:
            continue
        if line.strip() == "":
            if para and section:
                yield section, title, " ".join(para)
            para = []
        else:
            para.append(line.strip())
    if para and section:
        yield section, title, " ".join(para)


def split_sentences(text):
    text = re.sub(r"\s+", " ", text).strip()
    parts = re.split(r'(?<=[.!?])\s+(?=[A-Z"(\[])', text)
    return [p.strip() for p in parts if p.strip()]


def requirements():
    """{rfc: {section: {"title": t, "reqs": [sentence...]}}}"""
    out = {}
    for rfc, name, scope in RFCS:
        secs = {}
        for sec, title, para in read_rfc(os.path.join(SPECS, name)):
            if scope is not None and sec.split(".")[0] not in scope:
                continue
            entry = secs.setdefault(sec, {"title": title, "reqs": []})
            for s in split_sentences(para):
                if KEYWORD.search(s):
                    entry["reqs"].append(s)
        out[rfc] = secs
    return out


TLS_FILES = re.compile(r"^(src/tls/|include/handoff/tls\.h|tests/test_tls|tests/test_record\.c|tests/tls_|"
                       r"tests/interop/tls_|fuzz/fuzz_tls)")
CITE = re.compile(r"(?:RFC\s*(\d{4})[,:]?\s*)?(?:§\s*|\bApp(?:endix|\.)\s+|\bSection\s+(?=[A-E]?\.?\d))"
                  r"((?:\d+|[A-E])(?:\.\d+)*)")


def source_files():
    out = []
    for top in ("src", "include", "apps", "tests", "fuzz"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "corpus")
            for fn in sorted(filenames):
                if fn.endswith((".c", ".h", ".sh", ".py", ".bash")):
                    rel = os.path.relpath(os.path.join(dirpath, fn), ROOT)
                    if rel != SELF:
                        out.append(rel)
    return sorted(out)


def citations():
    """{(rfc, section): {"code": {file: n}, "tests": {file: n}}}"""
    cites = {}
    for rel in source_files():
        kind = "tests" if rel.startswith(("tests/", "fuzz/")) else "code"
        default = "8446" if TLS_FILES.match(rel) else None
        try:
            with open(os.path.join(ROOT, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.split("\n"):
            if "§" not in line and "App" not in line and "Section" not in line:
                continue
            current = default
            for m in CITE.finditer(line):
                rfc = m.group(1) or current
                if m.group(1):
                    current = m.group(1)  # later bare § on the line continue this RFC
                if rfc is None:
                    continue
                sec = m.group(2)
                files = cites.setdefault((rfc, sec), {"code": {}, "tests": {}})[kind]
                files[rel] = files.get(rel, 0) + 1
    return cites


def read_notes():
    """[(rfc, section prefix, kind, reason)]; kind: na | note."""
    notes = []
    with open(NOTES, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) != 4 or parts[2] not in ("na", "note"):
                sys.exit(f"{NOTES}:{n}: want 'RFC SECTION na|note REASON'")
            notes.append(tuple(parts))
    return notes


def note_for(notes, rfc, sec):
    """The note for a section: "X" names X only, "X.*" X and its subsections
    (the longest match wins)."""
    best = None
    for r, pattern, kind, reason in notes:
        prefix = pattern[:-2] if pattern.endswith(".*") else pattern
        if r == rfc and (sec == prefix or (pattern.endswith(".*") and sec.startswith(prefix + "."))):
            if best is None or len(pattern) > len(best[0]):
                best = (pattern, kind, reason)
    return best


def files_text(files):
    return ", ".join(f"`{f}` ({n})" for f, n in sorted(files.items()))


def report():
    reqs = requirements()
    cites = citations()
    notes = read_notes()
    rows, body, gaps, dangling = [], [], [], []
    for rfc, name, scope in RFCS:
        secs = reqs[rfc]
        total = cited_code = cited_tests = na = noted = gap = 0
        part = [f"## RFC {rfc}" + ("" if scope is None else
                                    " (TLS sections: " + ", ".join("§" + s for s in sorted(scope)) + ")"), ""]
        for sec in sorted(secs, key=section_key):
            entry = secs[sec]
            if not entry["reqs"]:
                continue
            c = cites.get((rfc, sec), {"code": {}, "tests": {}})
            note = note_for(notes, rfc, sec)
            n = len(entry["reqs"])
            total += n
            label = f"§{sec}" if sec[0].isdigit() else f"Appendix {sec}"
            part.append(f"### RFC {rfc} {label} {entry['title']}")
            part.append("")
            if note and note[1] == "na":
                status = "not applicable: " + note[2]
                na += n
            elif c["code"] or c["tests"]:
                status = "cited"
                cited_code += n if c["code"] else 0
                cited_tests += n if c["tests"] else 0
                if note:
                    status += "; " + note[2]
            elif note:
                status = "explained: " + note[2]
                noted += n
            else:
                status = "**GAP**: applicable, cited by neither code nor tests"
                gap += n
                gaps.append(f"- RFC {rfc} {label} {entry['title']} ({n})")
            part.append(f"- Status: {status}")
            part.append(f"- Code: {files_text(c['code']) or '—'}")
            part.append(f"- Tests: {files_text(c['tests']) or '—'}")
            part.append("")
            for i, s in enumerate(entry["reqs"], 1):
                s = KEYWORD.sub(lambda m: "**" + m.group(1) + "**", s.replace("*", "\\*"))
                part.append(f"{i}. {s}")
            part.append("")
        rows.append(f"| RFC {rfc} | {total} | {cited_code} | {cited_tests} | {na} | {noted} | {gap} |")
        body.extend(part)
        known = set(secs)
        for (r, sec), c in sorted(cites.items(), key=lambda kv: (kv[0][0], section_key(kv[0][1]))):
            if r != rfc or sec in known:
                continue
            if scope is not None and sec.split(".")[0] not in scope:
                continue
            where = dict(c["code"], **c["tests"])
            dangling.append(f"- RFC {rfc} §{sec}: {files_text(where)}")
    out = [
        "# TLS 1.3 compliance report",
        "",
        "Generated by `tests/interop/compliance_report.py` from `docs/specs/rfc8446.txt` and the TLS",
        "sections of `docs/specs/rfc9001.txt`; do not edit. After changing a citation or",
        "`docs/specs/compliance-notes.txt`, regenerate with",
        "`python3 tests/interop/compliance_report.py --write`; `make test` (ctest",
        "`interop_compliance`) fails while this file is stale.",
        "",
        "Every sentence with MUST, MUST NOT, SHALL, SHALL NOT or REQUIRED is listed under its",
        "section. A section is *cited* when a comment in the code (`src/`, `include/`, `apps/`) or in",
        "a test (`tests/`, `fuzz/`) names it (\"RFC 8446 §4.2.10\", \"App. D.4\"; a bare \"§4.2.10\" in",
        "the TLS files means RFC 8446); the counts after each file are the citations in it.",
        "Citations are per section, not per sentence: a cited section may still hold a sentence",
        "nothing enforces. *Not applicable* and *explained* reasons come from",
        "`docs/specs/compliance-notes.txt`.",
        "",
        "## Summary (requirement sentences)",
        "",
        "| RFC | requirements | in sections cited by code | by tests | not applicable | explained | gaps |",
        "|---|---|---|---|---|---|---|",
    ] + rows + [
        "",
        "## Gaps: applicable sections with requirements that nothing cites",
        "",
    ] + (gaps or ["None."]) + [
        "",
        "## Citations of sections that hold no requirement or do not exist",
        "",
    ] + (dangling or ["None."]) + [""] + body
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    text = report()
    if mode == "--write":
        with open(REPORT, "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    if mode == "--stdout":
        sys.stdout.write(text)
        return 0
    try:
        with open(REPORT, encoding="utf-8") as f:
            old = f.read()
    except OSError:
        old = ""
    if old == text:
        print("docs/COMPLIANCE.md is up to date")
        return 0
    diff = list(difflib.unified_diff(old.split("\n"), text.split("\n"), "docs/COMPLIANCE.md (committed)",
                                     "docs/COMPLIANCE.md (generated)", lineterm="", n=1))
    print("\n".join(diff[:60]))
    print("docs/COMPLIANCE.md is stale: run python3 tests/interop/compliance_report.py --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
