"""Splice benchmark tables from ``bench/results/<name>.md`` into README.md between markers.

    python bench/update_readme.py            # rewrite README.md in place
    python bench/update_readme.py --check    # exit 1 if README.md is out of date

README.md holds blocks ``<!-- bench:NAME -->`` ... ``<!-- /bench:NAME -->``; each is replaced by the
contents of ``bench/results/NAME.md`` as the bench script wrote it (headings demoted under the README's own,
links to files beside the results, such as plots, rewritten relative to the README), so no number in the
README is typed by hand. A block whose results file does not exist yet is left as it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCAL_LINK = re.compile(r"\]\((?!https?:|/|#|\.\./)([^)\s]+\.(?:png|svg|md|json|csv))\)")  # links next to the results
BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)


def splice(readme: str, results_dir: Path, link_prefix: str = "bench/results") -> str:
    def repl(m: re.Match) -> str:
        path = results_dir / f"{m.group('name')}.md"
        if not path.is_file():
            return m.group(0)
        body = "\n".join("###" + ln if ln.startswith("#") else ln for ln in path.read_text().rstrip().splitlines())
        body = LOCAL_LINK.sub(lambda link: f"]({link_prefix}/{link.group(1)})", body)
        return f"{m.group(1)}{body}\n{m.group(4)}"  # the results' headings sit under the README's "###"

    return BLOCK.sub(repl, readme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, do not write")
    args = parser.parse_args()
    readme = REPO / "README.md"
    old = readme.read_text()
    new = splice(old, REPO / "bench" / "results")
    if args.check:
        if new != old:
            print("README.md is out of date: run python bench/update_readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
