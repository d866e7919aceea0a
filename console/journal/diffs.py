"""What changed in an inventory or its policy since a roll started (shown when it is resumed)."""

from __future__ import annotations

import difflib
import json
from typing import Any


def policy_diff(old: dict[str, Any], new: dict[str, Any], source: str) -> str:
    """The effective policy then and now, as a unified diff (for a policy read from a side file)."""

    def lines(policy: dict[str, Any]) -> list[str]:
        return [f"{k}: {json.dumps(v, sort_keys=True)}\n" for k, v in sorted(policy.items())]

    return "".join(
        difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile=f"{source}: effective policy (when the roll started)",
            tofile=f"{source}: effective policy (now)",
        )
    )


def inventory_diff(old_text: str, new_text: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{path} (when the roll started)",
            tofile=f"{path} (now)",
        )
    )
