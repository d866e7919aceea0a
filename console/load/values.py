"""Reading one value of an inventory at its key path: a mapping, a name, a number, a duration, an amount.

Every mistake is an ``InventoryError`` that names the file, the line and the key path, and says what was
expected. The sections of the native loader (``console.load.hosts``, ``policy``, ``checks``, ``settings``)
are written in terms of these readers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from console.load.yamldoc import Path_, YamlDoc, kind_of
from console.model.durations import DurationError, parse_duration
from console.model.errors import InventoryError, did_you_mean
from console.model.policy import Amount

SECRET_KEYS = ("password", "passphrase", "ssh_password", "ansible_password", "ansible_ssh_pass")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")
NO_PASSWORDS = "passwords are not accepted in inventories; use SSH keys or ssh-agent"
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")


class Values:
    """The readers for one document; relative paths in it are relative to ``base_dir``."""

    def __init__(self, doc: YamlDoc, base_dir: Path) -> None:
        self.doc = doc
        self.base_dir = base_dir

    def err(self, path: Path_, message: str) -> InventoryError:
        return self.doc.error(path, message)

    def mapping(self, value: object, path: Path_, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        """A mapping (nothing: an empty one) whose keys are among ``allowed`` (None: any key)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.err(path, f"expected a mapping of keys, got {kind_of(value)}")
        if allowed is not None:
            for key in value:
                if key in SECRET_KEYS or key.endswith("_password"):
                    raise self.err((*path, key), NO_PASSWORDS)
                if key not in allowed:
                    raise self.err(
                        (*path, key),
                        f"unknown key{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}",
                    )
        return value

    def string(self, value: object, path: Path_, *, what: str = "a string") -> str:
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.err(path, f"expected {what}, got {kind_of(value)}")
        text = str(value)
        if not text.strip():
            raise self.err(path, f"expected {what}, got an empty string")
        return text

    def name(self, value: object, path: Path_) -> str:
        text = self.string(value, path, what="a name")
        if not NAME_RE.match(text):
            raise self.err(path, "names cannot contain control characters or newlines")
        return text

    def optional_name(self, body: dict[str, Any], key: str, path: Path_) -> str | None:
        """``body[key]`` as a name, or None when it is absent or empty."""
        return self.name(body[key], (*path, key)) if body.get(key) is not None else None

    def boolean(self, value: object, path: Path_) -> bool:
        if not isinstance(value, bool):
            raise self.err(path, f"expected true or false, got {kind_of(value)}")
        return value

    def integer(
        self, value: object, path: Path_, *, low: int, high: int | None = None, what: str = ""
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.err(path, f"expected {what or 'a whole number'}, got {kind_of(value)}")
        if value < low or (high is not None and value > high):
            rng = f"{low}–{high}" if high is not None else f"at least {low}"
            raise self.err(path, f"expected {what or 'a whole number'} ({rng}), got {value}")
        return value

    def port(self, value: object, path: Path_) -> int:
        return self.integer(value, path, low=1, high=65535, what="a TCP port")

    def duration(self, value: object, path: Path_, *, positive: bool = True) -> float:
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            raise self.err(path, str(exc)) from None
        if positive and seconds <= 0:
            raise self.err(path, f"expected a duration above zero, got {value!r}")
        return seconds

    def amount(self, value: object, path: Path_, *, what: str) -> Amount:
        """A number of hosts (``3``) or a percentage of them (``'25%'``)."""
        if isinstance(value, bool):
            raise self.err(path, f"expected {what}: a number of hosts or a percentage such as '25%'")
        if isinstance(value, int):
            if value < 1:
                raise self.err(
                    path,
                    f"{what} of {value} would block every host; use at least 1 (or a percentage)",
                )
            return Amount(count=value)
        if isinstance(value, str):
            m = _PERCENT.fullmatch(value)
            if m:
                pct = float(m.group(1))
                if pct <= 0:
                    raise self.err(path, f"{what} of {value} would block every host; use more than 0%")
                if pct > 100:
                    raise self.err(path, f"expected a percentage up to 100%, got {value}")
                return Amount(percent=pct)
            if value.strip().isdigit():
                return self.amount(int(value), path, what=what)
        raise self.err(
            path, f"expected {what}: a number of hosts or a percentage such as '25%', got {value!r}"
        )

    def str_list(self, value: object, path: Path_, *, what: str) -> list[str]:
        """A list of names (one name alone is a list of one; nothing is an empty list)."""
        if value is None:
            return []
        if isinstance(value, str):
            return [self.name(value, path)]
        if not isinstance(value, list):
            raise self.err(path, f"expected a list of {what}, got {kind_of(value)}")
        return [self.name(item, (*path, i)) for i, item in enumerate(value)]

    def vars(self, value: object, path: Path_) -> dict[str, Any]:
        """Free-form vars (any key but a secret-looking one)."""
        data = self.mapping(value, path, None)
        for key in data:
            if key.lower() in SECRET_KEYS or key.lower().endswith("password"):
                raise self.err((*path, key), NO_PASSWORDS)
        return data

    def resolve_path(self, text: str) -> str:
        return resolve_path(text, self.base_dir)


def resolve_path(text: str, base: Path) -> str:
    """A file path with ``~`` expanded; a relative one is taken from ``base``."""
    p = Path(os.path.expanduser(text))
    return str(p if p.is_absolute() else (base / p))
