"""`python -m sandbox` (what `make run` runs)."""

from sandbox.main import main

raise SystemExit(main())
