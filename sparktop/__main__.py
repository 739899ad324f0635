"""`python -m sparktop` runs the command line."""

from sparktop.cli import main

raise SystemExit(main())
