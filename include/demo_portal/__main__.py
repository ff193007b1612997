"""``python -m demo_portal``: serve the demo portal in the foreground."""

from demo_portal.server import main

raise SystemExit(main())
