"""``python -m gradprops``: the same as the ``gradprops`` command."""

from gradprops.app.cli import main

raise SystemExit(main())
