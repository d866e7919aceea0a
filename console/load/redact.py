from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

SECRET_NAME = re.compile(
    r"(?i)(token|secret|passphrase|passwd|password|api[_-]?key|private[_-]?key|credential|webhook)"
)


def redact_secrets(text: str) -> str:
    """The inventory text with the values of secret-looking keys replaced (for the journal and reports).

    Works on the YAML nodes' own spans, so block and flow styles alike are covered; text that is not
    YAML is returned unchanged (it never reaches the journal: loading would have failed).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return text
    spans: list[tuple[int, int]] = []

    def walk(node: yaml.Node | None) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and SECRET_NAME.search(str(key.value)):
                    spans.append((value.start_mark.index, value.end_mark.index))
                else:
                    walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    walk(root)
    for start, end in sorted(spans, reverse=True):
        segment = text[start:end]
        tail = segment[len(segment.rstrip("\n")) :]  # a block scalar's span ends after its newline
        text = text[:start] + "'<redacted>'" + tail + text[end:]
    return text


def redact_vars(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("<redacted>" if SECRET_NAME.search(k) else v) for k, v in values.items()}
