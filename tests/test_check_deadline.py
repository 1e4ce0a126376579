"""Deadlines stay Hypothesis' settings: one the caller set applies, Hypothesis' own default does not."""

from __future__ import annotations

import time

import pytest
from hypothesis import settings as hsettings
from hypothesis.errors import DeadlineExceeded

import gradprops
from gradprops import strategies as gst
from gradprops.checking import HYPOTHESIS_DEFAULT_DEADLINE


def slow_sin(seconds: float):
    def fn(x):
        time.sleep(seconds)
        return x.sin()

    return fn


def _check(fn, **kwargs):
    return gradprops.check(fn, gst.inputs("()"), seed=0, max_examples=2, properties=["ones_seed_matches_sum"],
                           **kwargs)


def test_hypothesis_default_deadline_is_the_one_gradprops_leaves_out():
    assert hsettings.get_profile("default").deadline == HYPOTHESIS_DEFAULT_DEADLINE


def test_hypothesis_default_deadline_does_not_apply():
    # Each example runs forward at least twice: 0.25 s each is past 200 ms, yet no deadline fails it.
    report = _check(slow_sin(0.25), settings=hsettings(hsettings.get_profile("default"), database=None))
    assert report.examples >= 2


def test_a_deadline_passed_in_settings_applies():
    with pytest.raises(DeadlineExceeded):
        _check(slow_sin(0.05), settings=hsettings(deadline=20, database=None))


def test_a_deadline_set_by_the_profile_applies():
    previous = hsettings.get_current_profile_name()
    hsettings.register_profile("gradprops-deadline-test", hsettings.get_profile(previous), deadline=20)
    hsettings.load_profile("gradprops-deadline-test")
    try:
        with pytest.raises(DeadlineExceeded):
            _check(slow_sin(0.05))
    finally:
        hsettings.load_profile(previous)
