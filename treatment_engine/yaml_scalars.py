"""What one YAML scalar means, as PyYAML's safe loader reads it (for :mod:`.sourcefile`).

A plain scalar's type comes from YAML 1.1's implicit resolvers (``12`` a number, ``yes`` a
boolean, ``2026-11-01`` a date); its value is worked out once per file, since a large plan
repeats the same words (``email`` may appear 50,000 times). Quoted scalars are text.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import ScalarEvent

STR, SEQ, MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers  # first character -> [(tag, regexp)]
_UNKNOWN = object()
# What constructing a scalar may raise: an impossible timestamp (2026-13-01), YAML's '=' tag.
UNREADABLE = (yaml.YAMLError, ValueError, OverflowError)


class Scalars:
    """The values of one file's scalars; one per file (its caches die with it)."""

    def __init__(self) -> None:
        self.plain: dict[str, Any] = {}  # plain scalar -> its value
        self.constructor = yaml.constructor.SafeConstructor()

    def value(self, event: ScalarEvent) -> Any:
        """The scalar's value; raises one of :data:`UNREADABLE` where it has none."""
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted, or the non-specific tag '!': text
                return text
            known = self.plain.get(text, _UNKNOWN)
            if known is not _UNKNOWN:
                return known
            tag = resolve_plain(text)
            value = text if tag == STR else self._tagged(event, tag)
            self.plain[text] = value
            return value
        return text if tag == STR else self._tagged(event, tag)

    def _tagged(self, event: Any, tag: str) -> Any:
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self.constructor.construct_object(node, deep=True)


def resolve_plain(text: str) -> str:
    """The tag YAML 1.1 gives a plain scalar, as PyYAML's resolver does."""
    for tag, pattern in _IMPLICIT.get(text[0] if text else "", []) + _IMPLICIT.get(None, []):
        if pattern.match(text):
            return str(tag)
    return STR
