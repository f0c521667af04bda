"""The message catalogs: add entries from a Python dict, and compile the .po files to .mo.

    python scripts/catalog.py import FILE.py [--replace]   # MESSAGES = {key: (Korean, English)} in FILE
    python scripts/catalog.py compile                      # msgfmt --check-format every .po → .mo

``import`` reads every ``"key": ("한국어", "English")`` entry of the dicts named MESSAGES in FILE
(``MESSAGES = {…}`` and ``MESSAGES.update({…})``, as ticket_alarm/i18n/__init__.py held them before
the catalogs; a branch that still adds keys there is merged with ``git show
BRANCH:ticket_alarm/i18n/__init__.py > /tmp/m.py && python scripts/catalog.py import /tmp/m.py``).
The comment lines right above an entry become its ``#.`` comments. A key already in the catalogs
is left alone unless its text differs and ``--replace`` is given (then it is rewritten); either way
every differing key is printed. Then it compiles.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ticket_alarm.i18n.catalog import DOMAIN, LOCALE_DIR, brace_fields  # noqa: E402
from ticket_alarm.i18n.po import Entry, format_po, read_po  # noqa: E402

LANGUAGES = ("ko", "en")
HEADER = (
    "Project-Id-Version: ticket-alarm\n"
    "Language: {lang}\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=UTF-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "Plural-Forms: {plural}\n"
)
PLURALS = {"ko": "nplurals=1; plural=0;", "en": "nplurals=2; plural=(n != 1);"}


def po_path(lang: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def dict_entries(path: Path) -> list[tuple[str, str, str, list[str]]]:
    """(key, Korean, English, comments) for every entry of the MESSAGES dicts in ``path``, in order."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in _messages_dicts(ast.parse(source)):
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(value, ast.Tuple) and len(value.elts) == 2):
                continue
            korean, english = (ast.literal_eval(v) for v in value.elts)
            found.append((str(key.value), korean, english, _comments_above(lines, key.lineno)))
    return found


def _messages_dicts(tree: ast.Module) -> list[ast.Dict]:
    """``MESSAGES = {…}``, ``MESSAGES: … = {…}`` and ``MESSAGES.update({…})``, in the file's order."""
    dicts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "MESSAGES" for t in targets):
                dicts.append(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and getattr(node.func.value, "id", "") == "MESSAGES"
            and node.func.attr == "update"
        ):
            dicts += [arg for arg in node.args if isinstance(arg, ast.Dict)]
    return sorted(dicts, key=lambda d: d.lineno)


def _comments_above(lines: list[str], lineno: int) -> list[str]:
    """The comment lines right above line ``lineno`` (1-based), across blank lines and the
    ``MESSAGES.update(`` / ``{`` that open a block; any other code line ends them."""
    comments: list[str] = []
    i = lineno - 2
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("#"):
            comments.insert(0, text.lstrip("#").strip().rstrip("-").rstrip())
        elif text and text not in ("{", "MESSAGES.update(") and not text.startswith("MESSAGES:"):
            break
        i -= 1
    return [c for c in comments if c]


def entry_for(key: str, english: str, text: str, comments: list[str]) -> Entry:
    flags = ["python-brace-format"] if brace_fields(english) or brace_fields(text) else []
    return Entry(english, text, context=key, flags=flags, comments=comments)


def load(lang: str) -> list[Entry]:
    path = po_path(lang)
    if path.exists():
        return read_po(path)
    header = HEADER.format(lang=lang, plural=PLURALS[lang])
    return [Entry("", header)]


def cmd_import(source: Path, *, replace: bool) -> int:
    catalogs = {lang: load(lang) for lang in LANGUAGES}
    added = changed = 0
    for key, korean, english, comments in dict_entries(source):
        texts = {"ko": korean, "en": english}
        known = {lang: {e.context: e for e in catalogs[lang] if e.context} for lang in LANGUAGES}
        if key not in known["ko"] or key not in known["en"]:
            for lang in LANGUAGES:
                catalogs[lang].append(entry_for(key, english, texts[lang], comments))
            added += 1
            continue
        for lang in LANGUAGES:
            entry = known[lang][key]
            if (entry.msgid, entry.msgstr) != (english, texts[lang]):
                print(f"{'replaced' if replace else 'differs (kept)'}: {key} [{lang}]")
                changed += 1
                if replace:
                    new = entry_for(key, english, texts[lang], entry.comments)
                    entry.msgid, entry.msgstr, entry.flags = new.msgid, new.msgstr, new.flags
    for lang in LANGUAGES:
        po_path(lang).parent.mkdir(parents=True, exist_ok=True)
        po_path(lang).write_text(format_po(catalogs[lang]), encoding="utf-8")
    print(f"{added} key(s) added, {changed} differing", file=sys.stderr)
    return cmd_compile()


def cmd_compile() -> int:
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        done = subprocess.run(["msgfmt", "--check-format", "-o", str(po.with_suffix(".mo")), str(po)])
        if done.returncode:
            return done.returncode
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    imported = commands.add_parser("import", help="add the MESSAGES entries of a Python file")
    imported.add_argument("file", type=Path)
    imported.add_argument("--replace", action="store_true", help="rewrite keys whose text differs")
    commands.add_parser("compile", help="msgfmt --check-format every .po to its .mo")
    args = parser.parse_args()
    if args.command == "import":
        return cmd_import(args.file, replace=args.replace)
    return cmd_compile()


if __name__ == "__main__":
    sys.exit(main())
