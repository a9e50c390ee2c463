"""hypothesis strategies for any type of the project's ASN.1 modules (the message set, Day-I and
Day-II), derived from their parse trees.

Every value generated satisfies the type's constraints, so it encodes; sizes and integers are
drawn with their bounds favoured (SEQUENCE OF lengths at SIZE lower and upper bound, integers
at min and max), and each OPTIONAL member is present or absent independently.  A SEQUENCE OF
inside another is drawn at its upper bound only by chance, not by favour: nested upper bounds
multiply (a SPAT at 32 intersections x 16 phases x 16 phase states is 8,192 elements), so
tests cover an inner list's upper bound with a message built for it.  Nor is an upper bound above
FAVOURED_UPPER (an SSM's 512 participants, a PathPlanning's 100 points).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import asn1tools
from hypothesis import strategies as st

from v2x.asn1 import ASN1_DIR, MESSAGE_SET

MAX_LIST = 4  # SEQUENCE OF lengths above this are drawn only at the upper bound (keeps examples small)
FAVOURED_UPPER = 64  # larger upper bounds are not favoured either


@cache
def _types() -> dict[str, Any]:
    return types_of([str(ASN1_DIR / name) for name in MESSAGE_SET])


def types_of(files: list[str]) -> dict[str, Any]:
    """Every type of a set of modules (another edition's reference copies), by name."""
    merged: dict[str, Any] = {}
    for module in asn1tools.parse_files(files, encoding="latin-1").values():
        merged.update(module["types"])
    return merged


def _bounds(spec: Any) -> tuple[int, int]:
    (first, *_rest) = [x for x in spec if x is not None]
    if isinstance(first, (list, tuple)):
        return first[0], first[1]
    return first, first


def _sizes(lo: int, hi: int, favour_upper: bool = True) -> st.SearchStrategy[int]:
    inner = st.integers(lo, min(hi, lo + MAX_LIST))
    if hi == lo:
        return st.just(lo)
    return st.one_of(st.just(lo), st.just(hi), inner) if favour_upper else st.one_of(st.just(lo), inner)


def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.just(lo), st.just(hi), st.integers(lo, hi))


def strategy(type_name: str, types: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values of the named type (asn1tools Python representation), of the
    project's module or of ``types`` (:func:`types_of`)."""
    types = types if types is not None else _types()
    return _strategy(types[type_name], types)


def _members(t: dict[str, Any], types: dict[str, Any]) -> list[dict[str, Any]]:
    """The members of a SEQUENCE or CHOICE to draw.  Of our own modules, the root ones: the
    extension additions there are Day-II's (MessageFrame's msgFrameExt, MAP Node's inLinks-ex),
    whose open-type octets and sections tests/test_dayii_conformance.py draws message by message.
    Of another edition's modules, every member (as these strategies always drew them)."""
    members = t["members"]
    if types is _types() and None in members:
        members = members[: members.index(None)]
    return [m for m in members if m is not None]


def _strategy(t: dict[str, Any], types: dict[str, Any], in_list: bool = False) -> st.SearchStrategy[Any]:
    """``in_list``: the value is (part of) an element of a SEQUENCE OF."""
    kind = t["type"]
    if kind in types:
        inner = types[kind]
        merged = {**inner, **{k: v for k, v in t.items() if k not in ("type", "name", "optional")}}
        return _strategy(merged, types, in_list)
    if kind == "INTEGER":
        lo, hi = t["restricted-to"][0]
        return _integers(lo, hi)
    if kind == "ENUMERATED":
        return st.sampled_from([v[0] for v in t["values"] if v is not None])
    if kind == "BOOLEAN":
        return st.booleans()
    if kind == "BIT STRING":
        n, _ = _bounds(t["size"])
        return st.integers(0, (1 << n) - 1).map(lambda v, n=n: ((v << (-n % 8)).to_bytes((n + 7) // 8, "big"), n))
    if kind == "OCTET STRING":
        lo, hi = _bounds(t["size"])
        return _sizes(lo, hi).flatmap(lambda k: st.binary(min_size=k, max_size=k))
    if kind == "IA5String":
        lo, hi = _bounds(t["size"])
        return _sizes(lo, hi).flatmap(
            lambda k: st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=k, max_size=k)
        )
    if kind == "SEQUENCE OF":
        lo, hi = _bounds(t["size"])
        element = _strategy(t["element"], types, True)
        return _sizes(lo, hi, favour_upper=not in_list and hi <= FAVOURED_UPPER).flatmap(
            lambda k: st.lists(element, min_size=k, max_size=k)
        )
    if kind == "CHOICE":
        members = _members(t, types)
        return st.one_of([_strategy(m, types, in_list).map(lambda v, name=m["name"]: (name, v)) for m in members])
    if kind == "SEQUENCE":
        members = _members(t, types)
        parts = {m["name"]: (_strategy(m, types, in_list), m.get("optional", False)) for m in members}

        @st.composite
        def sequence(draw):
            out = {}
            for name, (s, optional) in parts.items():
                if not optional or draw(st.booleans()):
                    out[name] = draw(s)
            return out

        return sequence()
    raise TypeError(f"no strategy for ASN.1 type {kind}")
