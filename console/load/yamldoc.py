from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from console.model.errors import InventoryError

Path_ = tuple[str | int, ...]


MAX_DEPTH = 64


def check_depth(text: str, path: str) -> None:
    """Refuse absurdly deep nesting before PyYAML's recursive composer meets it (iteratively)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    raise InventoryError(path, line, "", f"nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # compose reports it, with its location


class YamlDoc:
    """Plain Python values from YAML plus the line of every key path, and duplicate-key detection."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines: dict[Path_, int] = {}
        self._active: set[int] = set()
        try:
            check_depth(text, path)
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or exc.context or "not valid YAML"
            raise InventoryError(path, line, "", f"unreadable YAML: {problem}") from None
        except yaml.reader.ReaderError as exc:  # a character YAML refuses: no mark, but a position
            line = text.count("\n", 0, exc.position) + 1
            what = f"character {exc.character!r}" if isinstance(exc.character, str) else "a byte"
            raise InventoryError(
                path, line, "", f"unreadable YAML: {what} that YAML does not accept"
            ) from None
        except yaml.YAMLError as exc:
            raise InventoryError(path, None, "", f"unreadable YAML: {exc}") from None
        self.value = self._convert(node, ()) if node is not None else None

    @classmethod
    def built(cls, path: str, value: Any, lines: Mapping[Path_, int]) -> YamlDoc:
        """A document made elsewhere (e.g. from an Ansible inventory), whose key paths have these lines."""
        doc = cls.__new__(cls)
        doc.path = path
        doc.lines = dict(lines)
        doc._active = set()
        doc.value = value
        return doc

    def _convert(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._active:
            raise self.error(path, "a YAML alias refers to a node that contains it (an endless structure)")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self._active.add(id(node))
            try:
                return self._convert_collection(node, path)
            finally:
                self._active.discard(id(node))
        return self._scalar(node, path)

    def _convert_collection(self, node: yaml.Node, path: Path_) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error(path, "YAML merge keys (<<) are not supported here", line=key_node)
                # A key is a name: YAML 1.1 would read `on:` or `yes:` as a boolean; keep the text.
                key = (
                    key_node.value if isinstance(key_node, yaml.ScalarNode) else self._scalar(key_node, path)
                )
                if not isinstance(key, str | int | float):
                    raise self.error(path, "keys must be names", line=key_node)
                key = str(key)
                sub = (*path, key)
                if key in out:
                    first = self.lines.get(sub)
                    raise self.error(sub, f"duplicate key (first defined on line {first})", line=key_node)
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self._convert(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(path, "expected a plain value here", line=node)
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.error(path, f"unreadable value: {exc}", line=node) from None
        finally:
            loader.dispose()

    def line(self, path: Path_) -> int | None:
        return line_of(self.lines, path)

    def error(self, path: Path_, message: str, *, line: yaml.Node | None = None) -> InventoryError:
        where = line.start_mark.line + 1 if line is not None else self.line(path)
        return InventoryError(self.path, where, key_path(path), message)


def line_of(lines: Mapping[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def key_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def read_inventory_text(path: str | os.PathLike[str]) -> str:
    """The file's text, or an ``InventoryError`` that says why it cannot be read."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InventoryError(shown, None, "", "no such file") from None
    except IsADirectoryError:
        raise InventoryError(shown, None, "", "is a directory, expected a file") from None
    except OSError as exc:
        raise InventoryError(shown, None, "", f"cannot read: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(shown, None, "", f"not UTF-8 text (byte {exc.start})") from None


def read_yaml(text: str, path: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML into plain values and the line of every key path (duplicate keys are errors)."""
    doc = YamlDoc(path, text)
    return doc.value, doc.lines


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return f"a number ({value})"
    if isinstance(value, float):
        return "a number (infinite)" if math.isinf(value) else f"a number ({value:g})"
    return f"{value!r}"
