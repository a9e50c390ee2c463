"""YAML files a test engineer writes (scenarios, sources, profiles, receivers), read strictly.

PyYAML's ``safe_load`` keeps the last of two equal keys in a mapping, so a scenario with two
``duration_s:`` lines runs with one of them and nobody is told; and its errors name the text
``<unicode string>`` instead of the file.  :func:`load_yaml` refuses duplicate keys (YAML 1.2
3.2.1.1: the keys of a mapping are unique) and names the file, line and column of every error.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlError(ValueError):
    """A YAML text that does not parse, or repeats a key; the text says where (``file, line 3, column 5``)."""


def _where(source: str, mark: yaml.Mark | None) -> str:
    return f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in (<<) may be overridden
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping says so
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice in one mapping (first on line {first.line + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, source: str) -> Any:
    """The value of YAML ``text`` read from ``source`` (a file name, for messages); :class:`YamlError`
    naming the file, line and column of a syntax error or a repeated key."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "not YAML"
        raise YamlError(f"{_where(source, exc.problem_mark)}: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise YamlError(f"{source}: nested too deeply") from None
