#!/bin/sh
# Checks that every relative link in README.md and docs/*.md resolves: the
# file or directory exists inside the repository and, for a link with
# `#anchor` into a Markdown file, the anchor matches one of that file's
# headings as GitHub names them (lower case, punctuation dropped, spaces to
# hyphens, -1, -2 ... for repeated headings). Links with a scheme (http:,
# https:, mailto:, ...) are not checked; nor is anything inside code (fenced
# or indented blocks, `inline code`).
#
#   sh tools/check-links.sh [file.md ...]     (default: README.md docs/*.md)
#
# Prints every broken link as file:line: link: reason and exits 1, or prints
# one line saying how many links were checked and exits 0.
cd "$(dirname "$0")/.." || exit 1
command -v python3 > /dev/null 2>&1 || { echo "links: python3 is needed (tools/deps.sh installs it)" >&2; exit 1; }
exec python3 - "$@" << 'EOF'
import os
import re
import sys

ROOT = os.getcwd()
SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
ATX = re.compile(r'^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$')
LIST_ITEM = re.compile(r'^ {0,3}([*+-]|\d{1,9}[.)])[ \t]')
REF_DEF = re.compile(r'^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>]*>|\S+)')
HTML_ID = re.compile(r'<a\s[^>]*?(?:name|id)\s*=\s*"([^"]+)"', re.I)
HTML_HREF = re.compile(r'<a\s[^>]*?href\s*=\s*"([^"]+)"', re.I)


def prose_lines(text):
    """(line number, line) for every line outside code blocks."""
    out = []
    fence = None
    prev_blank = True
    in_code = False
    in_list = False
    for no, line in enumerate(text.split('\n'), 1):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and line.strip() == m.group(1):
                fence = None
            prev_blank = False
            continue
        if m:
            fence = m.group(1)
            in_code = False
            continue
        blank = line.strip() == ''
        indented = line.startswith('    ') or line.startswith('\t')
        if blank:
            prev_blank = True
            continue
        if indented and (in_code or (prev_blank and not in_list)):
            in_code = True
            prev_blank = False
            continue
        in_code = False
        if LIST_ITEM.match(line):
            in_list = True
        elif not indented and prev_blank:
            in_list = False
        prev_blank = False
        out.append((no, line))
    return out


def strip_code_spans(line):
    return re.sub(r'(`+)(.+?)\1', lambda m: ' ' * len(m.group(0)), line)


def heading_text(raw):
    t = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', raw)   # links, images -> text
    t = re.sub(r'<[^>]+>', '', t)                        # inline HTML
    t = t.replace('`', '')
    t = re.sub(r'(\*\*|__)(.+?)\1', r'\2', t)
    t = re.sub(r'\*', '', t)
    t = re.sub(r'(?<!\w)_(.+?)_(?!\w)', r'\1', t)
    return t.strip()


def slug(text):
    s = text.lower()
    s = re.sub(r'[^\w\- ]', '', s)
    return s.replace(' ', '-')


_anchors = {}


def anchors_of(path):
    if path in _anchors:
        return _anchors[path]
    with open(path, encoding='utf-8') as f:
        text = f.read()
    found = set()
    seen = {}
    lines = prose_lines(text)
    for i, (no, line) in enumerate(lines):
        m = ATX.match(line)
        title = None
        if m:
            title = m.group(2)
        elif i + 1 < len(lines) and lines[i + 1][0] == no + 1 \
                and re.match(r'^ {0,3}(=+|-+)[ \t]*$', lines[i + 1][1]) \
                and not LIST_ITEM.match(line) and not line.startswith('|'):
            title = line.strip()
        if title is not None:
            base = slug(heading_text(title))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else '%s-%d' % (base, n))
        for a in HTML_ID.findall(line):
            found.add(a)
    _anchors[path] = found
    return found


def links_in(line):
    """Link targets in one line of prose (code spans removed)."""
    line = strip_code_spans(line)
    targets = []
    m = REF_DEF.match(line)
    if m:
        targets.append(m.group(2))
    i = 0
    while True:
        j = line.find('](', i)
        if j < 0:
            break
        k = j + 2
        depth = 1
        while k < len(line) and depth:
            if line[k] == '(':
                depth += 1
            elif line[k] == ')':
                depth -= 1
            k += 1
        if depth:
            targets.append(line[j + 2:])   # unterminated: report as it is
            break
        targets.append(line[j + 2:k - 1])
        i = k
    targets.extend(HTML_HREF.findall(line))
    result = []
    for t in targets:
        t = t.strip()
        if t.startswith('<') and '>' in t:
            t = t[1:t.index('>')]
        else:
            t = re.split(r'\s+["\'(]', t, maxsplit=1)[0].strip()
        result.append(t)
    return result


def check(md):
    problems = []
    count = 0
    with open(md, encoding='utf-8') as f:
        text = f.read()
    here = os.path.dirname(os.path.abspath(md))
    for no, line in prose_lines(text):
        for target in links_in(line):
            count += 1
            where = '%s:%d: %s' % (md, no, target or '(empty)')
            if not target:
                problems.append(where + ': empty link')
                continue
            if SCHEME.match(target) or target.startswith('//'):
                continue
            path, _, anchor = target.partition('#')
            path = re.sub(r'%20', ' ', path.split('?')[0])
            dest = os.path.normpath(os.path.join(here, path)) if path else os.path.abspath(md)
            if path.startswith('/'):
                problems.append(where + ': absolute path (use a path relative to the file)')
                continue
            if os.path.relpath(dest, ROOT).startswith('..'):
                problems.append(where + ': points outside the repository')
                continue
            if not os.path.exists(dest):
                problems.append(where + ': no such file')
                continue
            if not anchor:
                continue
            if os.path.isdir(dest):
                problems.append(where + ': anchor on a directory')
            elif dest.endswith('.md'):
                if anchor not in anchors_of(dest):
                    problems.append(where + ': no heading with anchor #' + anchor +
                                    ' in ' + os.path.relpath(dest, ROOT))
            elif not re.match(r'^L\d+(-L\d+)?$', anchor):
                problems.append(where + ': cannot check anchor #' + anchor + ' in a non-Markdown file')
    return count, problems


files = sys.argv[1:]
if not files:
    files = ['README.md']
    if os.path.isdir('docs'):
        files += sorted(os.path.join('docs', f) for f in os.listdir('docs') if f.endswith('.md'))
total = 0
broken = []
for md in files:
    if not os.path.isfile(md):
        broken.append('%s: no such file' % md)
        continue
    n, p = check(md)
    total += n
    broken.extend(p)
if broken:
    for b in broken:
        print('links: BROKEN ' + b)
    print('links: FAIL: %d of %d links in %d files do not resolve' % (len(broken), total, len(files)))
    sys.exit(1)
print('links: ok (%d links in %d files resolve)' % (total, len(files)))
EOF
