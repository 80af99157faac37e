"""The YAML loader of article frontmatter: PyYAML's safe loader, C-accelerated when available,
made tolerant of bad dates and numbers and quicker at the plain strings most frontmatter is."""

from __future__ import annotations

from typing import Any, ClassVar

import yaml

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVED_TAGS: dict[tuple[str, tuple[bool, bool]], str] = {}
"""The tag of each short scalar seen lately, by its text and how it was written."""
_RESOLVED_MAX_CHARS = 40
_RESOLVED_MAX_ENTRIES = 20_000


_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TolerantLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """The safe loader (C-accelerated when available), except that a timestamp that is not a real
    date (2020-13-45), or an integer too long for Python to convert (over 4,300 digits), stays a
    string, so only that field is lost, not the whole file."""

    # Copies of PyYAML's tables: a program that adds resolvers to PyYAML's own classes changes
    # neither how articles are read nor the tags `resolve` remembers.
    yaml_implicit_resolvers: ClassVar[dict[Any, list[Any]]] = {
        first: list(entries) for first, entries in _SafeLoader.yaml_implicit_resolvers.items()
    }
    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        # Most values and every key of a frontmatter are plain strings, whose constructor
        # returns the node's text; PyYAML's generic path (recursion checks, generators, a
        # cache of constructed nodes) is most of the cost of loading them.
        if node.tag == _STR_TAG and type(node) is yaml.ScalarNode:
            return node.value
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # A mapping whose keys are all plain strings has no merge keys to flatten and no
        # unhashable key to refuse: PyYAML's checks of both are then skipped.
        pairs = node.value if isinstance(node, yaml.MappingNode) else None
        if pairs is None or not all(
            key.tag == _STR_TAG and type(key) is yaml.ScalarNode for key, _ in pairs
        ):
            return super().construct_mapping(node, deep)  # type: ignore[no-any-return]
        return {key.value: self.construct_object(value, deep) for key, value in pairs}

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        # The tag of a value depends on its text and how it was written alone (this loader has
        # no path resolvers), and keys and short values (true, news, Reuters) repeat from file
        # to file.
        if kind is not yaml.ScalarNode or len(value) > _RESOLVED_MAX_CHARS:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit)
        tag = _RESOLVED_TAGS.get(key)
        if tag is None:
            tag = str(super().resolve(kind, value, implicit))
            if len(_RESOLVED_TAGS) >= _RESOLVED_MAX_ENTRIES:
                _RESOLVED_TAGS.clear()
            _RESOLVED_TAGS[key] = tag
        return tag


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)  # type: ignore[arg-type]


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[arg-type]
    except ValueError:  # int() refuses very long numbers rather than spend seconds on them
        return loader.construct_scalar(node)  # type: ignore[arg-type]


TolerantLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
TolerantLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
