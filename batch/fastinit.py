"""A positional constructor for frozen, slotted dataclasses, for the 100,000-row hot paths.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` looked up
anew for every field; at 100,000 rows that is a visible share of a plan. ``fast_constructor``
builds a function with the same positional parameters (defaults included) that sets the slots
directly through their descriptors. The object is an ordinary instance of the class: frozen,
equal to and hashing like one made by ``__init__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def fast_constructor(cls: type) -> Callable[..., Any]:
    """``make(*fields)`` equivalent to ``cls(*fields)`` for a frozen dataclass with slots and no
    ``__post_init__``."""
    if not (dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__):
        raise TypeError(f"{cls.__name__} is not a dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which this constructor would skip")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if len(fields) != len(dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__} has fields outside __init__")
    params = []
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            ns[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has a default factory")
        else:
            params.append(f.name)
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
    body = "".join(f"    _set_{f.name}(self, {f.name})\n" for f in fields)
    src = f"def make({', '.join(params)}):\n    self = _new(_cls)\n{body}    return self\n"
    exec(src, ns)  # noqa: S102 - source built from the dataclass's own field names
    make = ns["make"]
    make.__qualname__ = f"{cls.__qualname__}.<fast constructor>"
    make.__doc__ = f"{cls.__name__}(*fields), without the frozen __init__'s per-field object.__setattr__."
    return make
