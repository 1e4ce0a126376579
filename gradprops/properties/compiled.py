"""compiled_matches_eager: ``torch.compile(fn)`` gives the outputs and grads that ``fn`` gives eagerly.

Compiled code is other code: Dynamo traces the function into graphs, AOTAutograd derives their
backward graphs itself (it does not run the backward autograd would), and a backend — ``inductor``
generating C++ or Triton, ``aot_eager`` running the traced graphs as they are, or the user's own —
runs them. A decomposition, a fusion or a lowering that is wrong changes outputs or grads of the
compiled function only, and every other property, which calls ``fn`` eagerly, passes. This property
runs ``torch.compile(fn, backend=b)`` for each backend on the example's inputs and seed, forward and
one backward (no ``retain_graph``: AOTAutograd may donate the backward's buffers), and compares
outputs and grads with eager within the rounding noise of the eager computation.

Opt-in (``properties=[..., "compiled_matches_eager"]``): compiling costs seconds per shape class
(inductor ~10-40 s on a CPU for the first, Dynamo's guards reuse it after, sizes going dynamic on
the second), far more than every other property together. Each backend's compiled function is built
once per function and kept, so later examples pay only for shapes, strides and dtypes not yet seen;
Dynamo's recompile limit is raised to :data:`RECOMPILE_LIMIT` while it runs. An example on which no
compiled graph ran at all (Dynamo fell back to eager: a graph break around everything, or the limit
reached) is skipped with that reason: it checked nothing. A backend that raises is a finding.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from gradprops.autodiff import Graph, outputs_and_vjp
from gradprops.errors import UsageError, findings_hidden
from gradprops.properties._common import (
    against_eager,
    as_helper,
    fail_on,
    findings_as_failures,
    make_case,
    seed_or_random,
    tolerance_for,
)
from gradprops.signals import NotApplicable
from gradprops.target import Inputs, Seed, Target

#: pytest leaves these frames out of a PropertyFailure's report (its message says it all)
__tracebackhide__ = findings_hidden

NAME = "compiled_matches_eager"

#: The backends compared with eager when none are named: AOTAutograd alone, and with inductor.
BACKENDS: tuple[str, ...] = ("aot_eager", "inductor")

#: Compiled variants (graphs per shape class, stride pattern, dtype) Dynamo may build per function
#: while the property runs, over its default of 8: gradprops draws every layout on purpose.
RECOMPILE_LIMIT = 64

Backend = str | Callable[..., Any]


class CompiledFunction:
    """``torch.compile(fn, backend=backend)``, counting the runs of its compiled graphs.

    The count tells a compiled run from Dynamo's silent fallback to eager.
    """

    def __init__(self, fn: Callable[..., Any], backend: Backend) -> None:
        self.backend = backend
        self.graph_runs = 0
        real = torch._dynamo.lookup_backend(backend) if isinstance(backend, str) else backend

        def counted(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
            # The backend's own deprecation warnings (inductor imports torch.jit.script_method) are
            # torch's business; under -W error they would fail every compile.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                compiled = real(gm, example_inputs)

            def run(*args: Any) -> Any:
                self.graph_runs += 1
                return compiled(*args)

            return run

        self.fn = torch.compile(fn, backend=counted)


_COMPILED: dict[tuple[int, int], tuple[Callable[..., Any], Backend, CompiledFunction]] = {}
_KEPT = 32  # compiled functions kept: one check's function and backends, and a few checks before it


def compiled(fn: Callable[..., Any], backend: Backend) -> CompiledFunction:
    """The compiled ``fn`` for ``backend``, built on first use and kept (Dynamo's cache of
    graphs belongs to it: a new one would compile every shape again)."""
    key = (id(fn), id(backend))
    if key not in _COMPILED:
        if len(_COMPILED) >= _KEPT:
            del _COMPILED[next(iter(_COMPILED))]
        _COMPILED[key] = (fn, backend, CompiledFunction(fn, backend))  # fn, backend kept: their ids stay theirs
    return _COMPILED[key][2]


@contextlib.contextmanager
def _recompile_limit(limit: int) -> Iterator[None]:
    config = torch._dynamo.config
    names = [n for n in ("recompile_limit", "cache_size_limit") if hasattr(config, n)]
    with contextlib.ExitStack() as stack:
        for name in names:
            if getattr(config, name) < limit:
                stack.enter_context(config.patch(name, limit))
        yield


def check_compiled_matches_eager(
    target: Target, seed: Seed | None = None, *, backends: Sequence[Backend] = BACKENDS,
    rtol: float | None = None, atol: float | None = None, generator: torch.Generator | None = None,
    graph: Graph | None = None,
) -> list[str]:
    """Run the property on ``target``; returns notes, raises PropertyFailure, or NotApplicable where
    no compiled graph ran for any backend."""
    backends = checked_backends(backends)
    graph = graph or Graph(target)
    generator = generator or torch.Generator().manual_seed(0)
    variables = graph.variables
    names = [x.name for x in target.variables]
    seeds: dict[str, Sequence[Tensor]] = {}
    extras: dict[str, object] = {}
    case = lambda: make_case(  # noqa: E731
        target, variables, seeds=seeds, extras=extras,
        helper_call=f"gradprops.assert_compiled_matches_eager(fn, inputs, seed=v, backends={backend_names(backends)})")
    with findings_as_failures(NAME, case):
        eager_outputs = [o.detach() for o in graph.outputs]
    seed = seed_or_random(seed, eager_outputs, generator)
    seeds["v"] = seed
    with findings_as_failures(NAME, case):
        eager_grads = list(graph.vjp(seed))
    tolerance = tolerance_for(variables, eager_outputs, rtol, atol)
    values = [v.detach() for v in variables]
    fell_back = []
    for backend in backends:
        extras["backend"] = _name(backend)
        variant = compiled(target.fn, backend)
        runs_before = variant.graph_runs
        with findings_as_failures(NAME, case), _recompile_limit(RECOMPILE_LIMIT):
            outputs, grads = outputs_and_vjp(target.rebuilt(fn=variant.fn), values, seed, names)
        if variant.graph_runs == runs_before:
            fell_back.append(_name(backend))
            continue
        fail_on(NAME, f"torch.compile(fn, backend={_name(backend)!r}) does not give what fn gives eagerly: the "
                      "traced graph, AOTAutograd's backward graph or the backend computes something else",
                against_eager(target, variables, names, seed, (eager_outputs, eager_grads), [*outputs, *grads],
                              tolerance, f"compiled ({_name(backend)})"), case)
    del extras["backend"]
    if len(fell_back) == len(backends):
        raise NotApplicable(f"no compiled graph ran ({', '.join(fell_back)}): Dynamo ran the function eagerly "
                            "(a graph break around all of it, or its recompile limit reached)")
    return [f"{NAME}: no compiled graph ran for {', '.join(fell_back)} (Dynamo fell back to eager)"] if fell_back \
        else []


def checked_backends(backends: Any) -> tuple[Backend, ...]:
    """``backends`` as a tuple of names and callables; a UsageError for an unknown name."""
    if isinstance(backends, str) or callable(backends):
        backends = (backends,)
    backends = tuple(backends)
    if not backends:
        raise UsageError("backends is empty: name at least one, e.g. backends=('aot_eager', 'inductor')")
    # Importing Dynamo to read its registry takes a second; every check() validates its backends,
    # and the defaults are torch's own, so only other names are looked up.
    others = [b for b in backends if isinstance(b, str) and b not in BACKENDS]
    known = set(torch._dynamo.list_backends(exclude_tags=())) if others else set(BACKENDS)
    for b in backends:
        if isinstance(b, str) and b not in known:
            raise UsageError(f"unknown torch.compile backend {b!r}: choose from {sorted(known)}, or pass a backend "
                             "callable (gm, example_inputs) -> callable")
        if not isinstance(b, str) and not callable(b):
            raise UsageError(f"a backend is a name or a callable (gm, example_inputs) -> callable, got {b!r}")
    return backends


def _name(backend: Backend) -> str:
    return backend if isinstance(backend, str) else getattr(backend, "__name__", repr(backend))


def backend_names(backends: Sequence[Backend]) -> str:
    """How a replay line writes ``backends``: names quoted, callables by their own name,
    ``('aot_eager', my_backend)``."""
    written = [repr(b) if isinstance(b, str) else _name(b) for b in backends]
    return f"({', '.join(written)}{',' if len(written) == 1 else ''})"


def assert_compiled_matches_eager(
    fn: Callable[..., Any],
    inputs: Inputs,
    seed: Seed | None = None,
    *,
    backends: Sequence[Backend] = BACKENDS,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Assert that ``torch.compile(fn, backend=b)`` gives ``fn``'s outputs and ``backward(seed)``
    for each backend ``b`` (names, or backend callables), within the eager computation's rounding.

    >>> x = torch.linspace(-1, 1, 5, dtype=torch.float64, requires_grad=True)
    >>> assert_compiled_matches_eager(lambda t: t.sin() * t, (x,), backends=["aot_eager"])
    """
    as_helper(NAME, Target(fn, inputs), lambda target: check_compiled_matches_eager(
        target, seed, backends=backends, rtol=rtol, atol=atol))
