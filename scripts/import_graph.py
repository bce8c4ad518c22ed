"""Print apex_demo's import graph between its layers, from every import in the code (nested ones too).

    python scripts/import_graph.py          a table: importing layer -> imported layer, how many imports
    python scripts/import_graph.py --dot    the same as Graphviz DOT (e.g. | dot -Tpng -o layers.png)

Layers: the top-level modules (config, errors, scores, csvsafe, tempfiles) are "shared"; each package
(engine, folder, arena, figures, ui, cli) is its own layer; __init__/__main__ are "face"/"cli".
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "apex_demo"
ORDER = ("face", "cli", "ui", "arena", "folder", "figures", "engine", "shared")


def layer(parts: list[str]) -> str:
    """The layer of a module given as path parts under apex_demo/ (or a dotted name's parts after apex_demo)."""
    if not parts or parts[0] in ("__init__", "__init__.py"):
        return "face"
    if parts[0] in ("__main__", "__main__.py"):
        return "cli"
    if len(parts) == 1 and not (PACKAGE / parts[0]).is_dir():
        return "shared"
    return parts[0]


def edges() -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        source = layer(list(path.relative_to(PACKAGE).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[list[str]] = []
            if isinstance(node, ast.Import):
                targets = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "apex_demo"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == "apex_demo":
                    targets = [parts[1:] + [a.name] for a in node.names] if len(parts) == 1 else [parts[1:]]
            for target in targets:
                to = layer(target)
                if to != source:
                    counts[(source, to)] += 1
    return counts


def main(argv: list[str]) -> int:
    counts = edges()
    ordered = sorted(counts.items(), key=lambda e: (ORDER.index(e[0][0]), ORDER.index(e[0][1])))
    if "--dot" in argv:
        print("digraph apex_demo {\n  rankdir=TB;")
        print("\n".join(f'  "{a}" -> "{b}" [label="{n}"];' for (a, b), n in ordered))
        print("}")
        return 0
    upward = [(a, b) for (a, b), _ in ordered if ORDER.index(b) < ORDER.index(a)]
    for (a, b), n in ordered:
        print(f"{a:>8} -> {b:<8} {n:4d}")
    print("imports that run upwards:", ", ".join(f"{a}->{b}" for a, b in upward) or "none")
    return 1 if upward else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
