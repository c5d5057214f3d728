"""Write the configuration reference page, docs/reference/configuration.md, from seqkit/configs/ (its YAML comments).

python scripts/config_reference.py            # rewrite the page
python scripts/config_reference.py --check    # exit 1 when the page is not current or a key has no comment
"""

import sys
from pathlib import Path

from seqkit.app.config_reference import missing, render

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "configuration.md"

if __name__ == "__main__":
    lacking = missing()
    for line in lacking:
        print(f"error: seqkit/{line}: no comment gives this key's meaning", file=sys.stderr)
    if "--check" in sys.argv[1:]:
        current = PAGE.exists() and PAGE.read_text(encoding="utf-8") == render()
        if not current:
            print(f"error: {PAGE}: not current; run python scripts/config_reference.py", file=sys.stderr)
        sys.exit(1 if lacking or not current else 0)
    PAGE.write_text(render(), encoding="utf-8")
    sys.exit(1 if lacking else 0)
