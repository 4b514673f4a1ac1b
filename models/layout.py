"""A net's layout, as a run's checkpoint records it: what must be the same for a resume to continue the run.

A checkpoint holds weights, not the code that uses them. A net whose names and shapes stay but whose
computation changed (a stride moved from a 1x1 to the 3x3 convolution of a bottleneck, a ReLU moved after the
sum) loads such a checkpoint without complaint and trains on as another net. :func:`net_layout` writes down
what decides the computation, line by line, so that ``experiments.run`` can refuse the resume and name the
first line that changed (:func:`layout_change`).

Kept here, not taken from a library: neither torch nor Lightning records a module's code in a checkpoint.
"""

from __future__ import annotations

import hashlib
import re
import types

from torch import nn

_PRIMITIVES = (bool, int, float, str, type(None))


def _torch_own(module_name: str | None) -> bool:
    """Whether code comes from torch itself (not torchvision, torchmetrics or a plugin named torch-something):
    its behaviour is fixed by the pinned torch version (recorded in every run's config.yaml), so only its
    modules' settings (``extra_repr``) and tensors are written down."""
    return module_name is not None and (module_name == "torch" or module_name.startswith("torch."))


def net_layout(net: nn.Module) -> list[str]:
    """The net's layout, one line per module in ``named_modules()`` order and one per class's code:

    - ``"<name> <module.Class>(<extra_repr>) {attr=value, ...} [tensor:shape, ...]"``: the module's settings
      (torch's modules: their ``extra_repr``, ``stride=(2, 2)``; the others' public attributes that are
      numbers, strings or tuples of them besides, ``relu_before_scale=True``) and its own parameters' and
      buffers' shapes (``alpha:[1]``; ``None`` for an absent one);
    - ``"code <module.Class> <sha256[:16]>"`` for every class of the net not from torch: a digest of the
      bytecode, constants and names of its ``forward`` and of every function it reaches by name (a method
      of the block, a helper of its module), docstrings and line numbers left out, so that a comment or a
      docstring edit changes nothing while a changed computation does.

    Not covered: code reached other than by name from ``forward`` (a function passed in as a value); a
    plugin's whole source is checked besides (its ``source_sha256``, ``experiments.run``)."""
    lines = []
    classes: dict[str, type] = {}
    for name, module in net.named_modules():
        cls = type(module)
        qual = f"{cls.__module__}.{cls.__qualname__}"
        ours = not _torch_own(cls.__module__)
        attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(module).items())
                          if ours and not k.startswith("_") and k != "training" and _primitive(v))
        tensors = ", ".join(f"{k}:{list(t.shape) if t is not None else None}"
                            for k, t in [*module._parameters.items(), *module._buffers.items()])
        lines.append(f"{name or '<net>'} {qual}({module.extra_repr()}) {{{attrs}}} [{tensors}]")
        if ours:
            classes.setdefault(qual, cls)
    for qual, cls in sorted(classes.items()):
        lines.append(f"code {qual} {_code_digest(cls)}")
    return lines


def layout_change(before: list[str], now: list[str]) -> str | None:
    """The first difference between two :func:`net_layout` records, in words, or None when they are equal:
    ``"module 'layer1.0' was 'relu_before_scale=True, same_shape=...', now 'relu_before_scale=False, ...'"``."""
    if before == now:
        return None
    for a, b in zip(before, now):
        if a == b:
            continue
        (name_a, kind_a, *_), (name_b, kind_b, *_) = a.split(" ", 2), b.split(" ", 2)
        if name_a == name_b == "code" and kind_a == kind_b:
            return f"the code of {kind_a} (its forward and what that calls) changed"
        if name_a != name_b:
            return f"the checkpoint's net has module {_short(name_a)!r} where the net now has {_short(name_b)!r}"
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        keys = list(re.finditer(r"(\w+)[=:]", a[:at]))
        field = f" {keys[-1].group(1)}" if keys else ""
        settings = a.find("(", len(name_a)) + 1  # after "<name> <module.Class>("
        begin = keys[-1].end() if keys else settings if at >= settings else len(name_a) + 1
        start = max(at - 25, begin)
        dots = "..." if start > begin else ""
        return (f"module {name_a!r} ({kind_a.split('(')[0]}){field} was {dots}{_short(a[start:])!r}, "
                f"now {dots}{_short(b[start:])!r}")
    longer, which = (before, "had") if len(before) > len(now) else (now, "has")
    return (f"the net's layout had {len(before)} lines, now {len(now)}; the checkpoint's net {which} "
            f"{_short(longer[min(len(before), len(now))])!r} more")


def _short(line: str, limit: int = 60) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _primitive(value) -> bool:
    if isinstance(value, _PRIMITIVES):
        return True
    return isinstance(value, tuple | list) and all(_primitive(v) for v in value)


def _code_digest(cls: type) -> str:
    """sha256 (16 hex digits) of ``cls.forward`` and every function it reaches by name (module docstring)."""
    h = hashlib.sha256()
    seen: set[int] = set()
    todo = [cls.forward]
    while todo:
        fn = todo.pop(0)
        fn = getattr(fn, "__func__", fn)  # a bound or class method: its function
        if not isinstance(fn, types.FunctionType) or id(fn) in seen:
            continue
        seen.add(id(fn))
        if _torch_own(fn.__module__):
            continue
        h.update(f"{fn.__module__}.{fn.__qualname__}\0".encode())
        _hash_code(h, fn.__code__, fn.__doc__)
        for ref in _names(fn.__code__):
            # A method of the class (self.<name>), else a function of the defining module (a helper).
            target = getattr(cls, ref, None)
            if target is None:
                target = fn.__globals__.get(ref)
            if isinstance(target, staticmethod | classmethod):
                target = target.__func__
            if isinstance(target, types.FunctionType | types.MethodType):
                todo.append(target)
    return h.hexdigest()[:16]


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _hash_code(h, code: types.CodeType, doc: str | None) -> None:
    """The bytecode, names and constants of ``code`` and its nested code (comprehensions, lambdas), the
    docstring ``doc`` left out; line numbers are not in ``co_code``."""
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
    for i, const in enumerate(code.co_consts):
        if isinstance(const, types.CodeType):
            _hash_code(h, const, None)
        elif not (i == 0 and doc is not None and const == doc):
            h.update(repr(const).encode())
