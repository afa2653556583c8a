"""``python -m asp_emulator serve``."""

from asp_emulator.cli import main

raise SystemExit(main())
