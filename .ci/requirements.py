#!/usr/bin/env python3
"""Print what lens-vdb's core and the named extras require, one requirement a line (``lens-vdb[...]`` expanded).

``make`` installs these into a venv first and the project itself after, alone (``--no-deps -e .``): the
two venvs of ``make test`` are built at the same time, and only that last step writes into the source
folder (its egg-info), so only it waits for the other.

    python .ci/requirements.py all test docs > requirements.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the copy pip carries (pip is in every venv)
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
SELF = re.compile(r"lens-vdb\[(?P<extras>[^\]]+)\]")


def requirements(extras: list[str]) -> list[str]:
    """The core's requirements, then each named extra's, with extras that name other extras expanded."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional: dict[str, list[str]] = project["optional-dependencies"]
    out, seen, pending = list(project["dependencies"]), set(), list(extras)
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r}; it has {', '.join(sorted(optional))}")
        seen.add(extra)
        for requirement in optional[extra]:
            self_reference = SELF.fullmatch(requirement)
            if self_reference:
                pending.extend(name.strip() for name in self_reference["extras"].split(","))
            elif requirement not in out:
                out.append(requirement)
    return out


if __name__ == "__main__":
    print("\n".join(requirements([name for arg in sys.argv[1:] for name in arg.split(",")])))
