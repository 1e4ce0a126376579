"""``python -m gradprops``: the same as the ``gradprops`` command."""

from gradprops.cli import main

raise SystemExit(main())
