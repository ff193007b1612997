"""``python -m commune_dx.demo_portal``: serve the demo portal in the foreground."""

from commune_dx.demo_portal.server import main

raise SystemExit(main())
