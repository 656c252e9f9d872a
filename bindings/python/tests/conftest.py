"""Where the shared test vectors are: test-vectors/ at the repository's root, or
$LICET_TEST_VECTORS (a folder holding vectors.json) when the tests run elsewhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

VECTORS_DIR = Path(os.environ.get("LICET_TEST_VECTORS") or Path(__file__).resolve().parents[3] / "test-vectors")
# Read at import, so that a missing manifest fails the run loudly instead of collecting
# no vector tests.
MANIFEST = json.loads((VECTORS_DIR / "vectors.json").read_text())


def read(path: str) -> str:
    """A file named in the manifest, relative to it."""
    return (VECTORS_DIR / path).read_text()
