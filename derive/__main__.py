"""python -m derive."""
from .cli import main

raise SystemExit(main())
