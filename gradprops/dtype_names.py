"""The dtype names gradprops reads from text — the pytest options, ``autograd_test(dtypes=...)``, the
``gradprops`` command and the benchmarks — in one vocabulary, importable without torch (the pytest
plugin must not load torch in a project without gradprops tests).

>>> canonical("torch.double")
'float64'
>>> parse("half, float32")
('float16', 'float32')
>>> canonical("complex32")
Traceback (most recent call last):
...
ValueError: unknown dtype 'complex32': choose from float64, float32, float16, bfloat16, complex128, complex64
"""

from __future__ import annotations

from collections.abc import Sequence

#: What gradprops draws inputs in (``gradprops.strategies`` also draws integer and bool tensors,
#: but nothing is differentiated in them), widest first.
DRAWABLE = ("float64", "float32", "float16", "bfloat16", "complex128", "complex64")
#: The real floating dtypes: what the catalogue and its benchmarks run in.
REAL = DRAWABLE[:4]

#: torch's other names for them, as ``torch.<name>`` spells them.
_ALIASES = {"double": "float64", "float": "float32", "half": "float16", "cdouble": "complex128",
            "cfloat": "complex64"}


def canonical(name: str, choices: Sequence[str] = DRAWABLE) -> str:
    """torch's canonical name for ``name`` (``torch.`` prefix and torch's aliases allowed), one of
    ``choices``; a ``ValueError`` naming them otherwise.

    >>> canonical("float", REAL)
    'float32'
    """
    bare = name.strip().removeprefix("torch.")
    found = _ALIASES.get(bare, bare)
    if found not in choices:
        raise ValueError(f"unknown dtype {name!r}: choose from {', '.join(choices)}")
    return found


def parse(text: str, choices: Sequence[str] = DRAWABLE) -> tuple[str, ...]:
    """Comma-separated dtype names, canonical and without repeats; a ``ValueError`` for an unknown
    or missing one.

    >>> parse("float64,double,bfloat16")
    ('float64', 'bfloat16')
    """
    names = [n for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"no dtype in {text!r}: name at least one of {', '.join(choices)} (comma-separated)")
    return tuple(dict.fromkeys(canonical(n, choices) for n in names))
