"""YAML that remembers where each value came from, so errors can name `file:line`.

PyYAML's safe loader is used unchanged except that mappings become `Node` dicts carrying the
1-based line of the mapping and of each key. Times are left as strings: editors write
`2024-05-08 09:30`, which YAML would not parse anyway, and one parser for all forms is simpler.
"""

from __future__ import annotations

from typing import Any

import yaml


class Node(dict):
    """A YAML mapping with the line of the mapping itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class Seq(list):
    """A YAML sequence with the line of each item, so `- nwes` can be pointed at."""

    item_lines: list[int]


# libyaml's parser is about eight times faster than PyYAML's pure-Python one and reports the same
# marks; the constructors below (ours) are the same either way.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    out = Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Node:
    loader.flatten_mapping(node)
    out = Node()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key `{key}`", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_timestamp_as_string(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


class YamlError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def parse(text: str, first_line: int = 1) -> Any:
    """Parse YAML text; line numbers are shifted so that the text's first line is `first_line`."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line if mark else 0) + first_line
        problem = exc.problem or "invalid YAML"
        raise YamlError(line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(first_line, f"invalid YAML: {exc}") from None
    if first_line != 1:
        _shift(data, first_line - 1, set())
    return data


def _shift(value: Any, offset: int, seen: set[int]) -> None:
    # A mapping reused through a YAML alias is one object in several places: shift it once.
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, Node):
        value.line += offset
        value.key_lines = {k: v + offset for k, v in value.key_lines.items()}
        for v in value.values():
            _shift(v, offset, seen)
    elif isinstance(value, list):
        if isinstance(value, Seq):
            value.item_lines = [line + offset for line in value.item_lines]
        for v in value:
            _shift(v, offset, seen)
