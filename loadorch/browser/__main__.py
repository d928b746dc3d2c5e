"""`python -m loadorch.browser --plan PLAN`: one browser worker process (its index in LOADORCH_WORKER_INDEX)."""

from __future__ import annotations

import sys

from loadorch.browser.worker import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
