"""A structural check that an object satisfies a Protocol, member by member, for the tests of
the typed seams (historian backends, frame sources, commanders).

``isinstance`` with ``runtime_checkable`` only asks whether a name exists. This also compares
each method's parameters: every parameter the Protocol names must be accepted under the same
name and kind (or by ``*args`` / ``**kwargs``), one with a default in the Protocol must have
one in the implementation, and the implementation may not require more. Data members and
properties must be readable on the object.
"""

from __future__ import annotations

import inspect
from typing import Protocol

_SKIP = {"__init__", "__new__", "__init_subclass__", "__class_getitem__", "__subclasshook__",
         "__parameters__", "__protocol_attrs__", "__non_callable_proto_members__",
         "__abstractmethods__", "__weakref__", "__dict__", "__module__", "__doc__",
         "__qualname__", "__annotations__", "__orig_bases__", "__slots__", "__static_attributes__",
         "__firstlineno__", "__type_params__"}


def protocol_members(proto: type) -> dict[str, object]:
    """Each member the Protocol (and its Protocol bases) declares: the function or property,
    or None for an annotated data member."""
    out: dict[str, object] = {}
    for base in reversed(proto.__mro__):
        if base in (object, Protocol) or not getattr(base, "_is_protocol", False):
            continue
        for name in getattr(base, "__annotations__", {}):
            out.setdefault(name, None)
        for name, value in vars(base).items():
            if name in _SKIP or name.startswith("_abc") or name == "_is_protocol" \
                    or name.startswith("_is_"):
                continue
            out[name] = value
    return out


def _accepts(impl: inspect.Signature, want: inspect.Signature, where: str) -> list[str]:
    problems = []
    params = dict(impl.parameters)
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in params.values())
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for name, w in want.parameters.items():
        if w.kind is w.VAR_POSITIONAL:
            if not var_pos:
                problems.append(f"{where}: takes no *{name}")
            continue
        if w.kind is w.VAR_KEYWORD:
            if not var_kw:
                problems.append(f"{where}: takes no **{name}")
            continue
        p = params.get(name)
        if p is None:
            if not (var_kw if w.kind is w.KEYWORD_ONLY else var_pos or var_kw):
                problems.append(f"{where}: no parameter '{name}'")
            continue
        positional = (w.POSITIONAL_ONLY, w.POSITIONAL_OR_KEYWORD)
        if w.kind in positional and p.kind not in positional:
            problems.append(f"{where}: '{name}' is not positional")
        if w.kind is w.KEYWORD_ONLY and p.kind is p.POSITIONAL_ONLY:
            problems.append(f"{where}: '{name}' cannot be given by name")
        if w.default is not w.empty and p.default is p.empty:
            problems.append(f"{where}: '{name}' has no default")
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
            continue
        if name not in want.parameters:
            problems.append(f"{where}: requires '{name}', which the Protocol does not pass")
    return problems


def protocol_problems(obj: object, proto: type) -> list[str]:
    """What ``obj`` lacks to satisfy ``proto`` (empty: it satisfies it). ``obj`` may be a
    class: then its methods are checked without their ``self``, and a data member that only
    its instances set is reported missing."""
    problems = []
    is_class = inspect.isclass(obj)
    kind = obj.__name__ if is_class else type(obj).__name__
    for name, member in protocol_members(proto).items():
        where = f"{kind}.{name}"
        if isinstance(member, property) or member is None:
            try:
                getattr(obj, name)
            except AttributeError:
                problems.append(f"{where}: missing")
            continue
        impl = getattr(obj, name, None)
        if not callable(impl):
            problems.append(f"{where}: missing or not a method")
            continue
        func = member.__func__ if isinstance(member, staticmethod | classmethod) else member
        want = inspect.signature(func)
        if not isinstance(member, staticmethod):  # the Protocol's own self
            want = want.replace(parameters=list(want.parameters.values())[1:])
        have = inspect.signature(impl)
        if is_class and not isinstance(inspect.getattr_static(obj, name), staticmethod):
            have = have.replace(parameters=list(have.parameters.values())[1:])
        problems += _accepts(have, want, where)
    return problems
