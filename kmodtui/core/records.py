"""Frozen records for the core's facts, made without the dataclasses module.

`@record` is `@dataclass(frozen=True, slots=True)` for the classes every command loads (model.py, the
resolver's results, the ELF and symvers readers): fields from the annotations, defaults, __init__,
__repr__, __eq__, __hash__, immutability, pickling, __match_args__. Importing dataclasses costs a
start-up ~8 ms (it imports inspect), and making each dataclass ~0.7 ms (a compile per method, and
the class made twice for slots): ~16 ms of the ~95 ms a warm `kmodtui resolve` takes. Here one
compile makes every method of a class. Type checkers see a frozen dataclass (dataclass_transform).
Not supported, because nothing here uses them: field(), InitVar, ClassVar, inheritance of fields.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing on every start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")

    @overload
    def record(cls: type[T], /) -> type[T]: ...
    @overload
    def record(*, slots: bool = True) -> Callable[[type[T]], type[T]]: ...

    @dataclass_transform(frozen_default=True)
    def record(cls: Any = None, /, *, slots: bool = True) -> Any: ...


class FrozenRecordError(AttributeError):
    """Assigning to a field of a record (like dataclasses.FrozenInstanceError)."""


_MISSING = object()


def _make(cls: type, slots: bool) -> type:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    params, seen_default = [], False
    for name in names:
        if name in defaults:
            params.append(f"{name}=_d_{name}")
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__name__}: field {name} without a default follows one with a default")
        else:
            params.append(name)
    values = "".join(f"self.{n}," for n in names)
    source = "\n".join([
        f"def __init__(self, {', '.join(params)}):" if names else "def __init__(self):",
        *(f" _set(self, {n!r}, {n})" for n in names),
        " pass",
        "def __repr__(self):",
        f" return f\"{{self.__class__.__qualname__}}({', '.join(f'{n}={{self.{n}!r}}' for n in names)})\"",
        "def __eq__(self, other):",
        f" return ({values}) == ({''.join(f'other.{n},' for n in names)}) if other.__class__ is self.__class__"
        " else NotImplemented",
        "def __hash__(self):",
        f" return hash(({values}))",
        "def __reduce__(self):",
        f" return (self.__class__, ({values}))",
        "def __setattr__(self, name, value):",
        " raise _Frozen(f'cannot assign to field {name!r}')",
        "def __delattr__(self, name):",
        " raise _Frozen(f'cannot delete field {name!r}')",
    ])
    scope: dict[str, object] = {"_set": object.__setattr__, "_Frozen": FrozenRecordError,
                                **{f"_d_{name}": value for name, value in defaults.items()}}
    exec(source, scope)  # made here, from the class's own field names
    namespace = {key: value for key, value in cls.__dict__.items()
                 if key not in defaults and key not in ("__dict__", "__weakref__")}
    for method in ("__init__", "__repr__", "__eq__", "__hash__", "__reduce__", "__setattr__", "__delattr__"):
        function = scope[method]
        function.__qualname__ = f"{cls.__qualname__}.{method}"  # type: ignore[attr-defined]
        namespace[method] = function
    namespace["__match_args__"] = names
    if slots:
        namespace["__slots__"] = names
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    return made


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a record with some fields changed (dataclasses.replace)."""
    fields = {name: getattr(obj, name) for name in obj.__match_args__}  # type: ignore[attr-defined]
    unknown = set(changes) - set(fields)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    return type(obj)(**{**fields, **changes})


if not TYPE_CHECKING:
    def record(cls=None, /, *, slots=True):
        """@record or @record(slots=False) (for a class with cached_property): see the module."""
        if cls is None:
            return lambda c: _make(c, slots)
        return _make(cls, slots)
