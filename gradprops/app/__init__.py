"""The ``gradprops`` command: an application built on the library, which never imports it.

- :mod:`gradprops.app.catalogue`: the torch ops the main job checks, each with its input strategy
  and its known torch findings.
- :mod:`gradprops.app.runner`: one catalogue entry (or fuzz job) checked by every property.
- :mod:`gradprops.app.catalogue_suite`: the pytest module those jobs run in, under pytest-xdist.
- :mod:`gradprops.app.cli`: the command line (``gradprops``, ``python -m gradprops``).
"""
