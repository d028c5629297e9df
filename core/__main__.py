"""``python -m deltarule`` is the ``deltarule`` command."""

from deltarule.cli import main

raise SystemExit(main())
