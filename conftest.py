"""Hypothesis profiles for gradprops' own tests: ``dev`` locally, ``ci`` (deterministic) in CI.

Choose with ``--hypothesis-profile`` or ``HYPOTHESIS_PROFILE``; CI=true selects ``ci``.
"""

import gc
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, max_examples=50, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)  # two workers on two cores: don't oversubscribe


def pytest_collection_finish(session) -> None:
    # Everything the test modules imported (torch, Hypothesis) lives for the session: move it out
    # of the collector's way, so that each full collection does not walk it again (7% of the run).
    gc.freeze()
