"""`python -m loadorch.browser --plan PLAN`: one browser worker (index: LOADORCH_BROWSER_INDEX or the Job's)."""

from __future__ import annotations

import sys

from loadorch.browser.worker import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
