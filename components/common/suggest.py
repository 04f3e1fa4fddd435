"""The "did you mean" hint every unknown-name message ends with (config rules and components alike)."""

from __future__ import annotations

import difflib


def did_you_mean(word: str, options: list[str]) -> str:
    """``; did you mean 'x'? Known: a, b`` (the hint only when a known name is close)."""
    close = difflib.get_close_matches(word, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(sorted(options)) or '(none defined)'}"
