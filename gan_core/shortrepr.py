"""A short, bounded printed form of any value, for error messages about untrusted data.

`repr()` of a value read from a file can be huge or take forever: a list that holds the same
list twice, level after level, prints 2**depth items; an int of a million digits refuses to
print; a stride-0 tensor view claiming 10**12 elements is scanned to format it. `short_repr`
looks at most a few levels and items deep and never formats a tensor's values.
"""
from __future__ import annotations

import reprlib

MAX_CHARS = 80


class _Short(reprlib.Repr):
    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 2, 4, 4, 4
        self.maxset = self.maxfrozenset = self.maxdeque = 4
        self.maxstring, self.maxother, self.maxlong = 40, 40, 30

    def repr_int(self, x, level):
        if x.bit_length() > 100:        # str() of a huge int is slow, or refused outright
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_instance(self, x, level):
        if type(x) in (float, bool, complex, type(None)):
            return repr(x)
        if type(x) in (bytes, bytearray):
            return repr(x[:self.maxstring]) + ("..." if len(x) > self.maxstring else "")
        try:
            import torch
            if isinstance(x, torch.Tensor):     # never format the values (see the docstring)
                return f"<tensor {str(x.dtype).replace('torch.', '')} {tuple(x.shape)}>"
        except ImportError:                     # pragma: no cover - torch is a dependency
            pass
        return f"<{type(x).__name__}>"          # never call an unknown object's own __repr__


_SHORT = _Short()


def short_repr(value, limit: int = MAX_CHARS) -> str:
    """At most `limit` characters describing `value`; safe for any value, cheap for all."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a description must never fail
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
