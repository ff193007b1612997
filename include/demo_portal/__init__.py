"""The demo portal: a real HTTP server implementing ``contract/openapi.yaml`` over
deterministic demo data for Phú Thọ (148 communes + 16 agencies, July 2025 on).

- ``python -m demo_portal --port 8765 --token demo-token`` serves it in the
  foreground (``--help`` lists the clock and fault-injection flags);
- ``start_demo_portal()`` serves it from a background thread (tests, the demo command);
- ``build_demo_dataset()`` returns the data alone.

Modules: ``demo_data`` (the dataset; ``task_data``, ``monthly_data`` and ``submission_log``
build it from ``reference``), ``server`` (HTTP), ``listing`` (filters and page tokens),
``faults`` (fault injection).
"""

from demo_portal.demo_data import DemoDataset, build_demo_dataset
from demo_portal.server import RunningPortal, start_demo_portal

__all__ = ["DemoDataset", "RunningPortal", "build_demo_dataset", "start_demo_portal"]
