"""`fastlb import-haproxy`: translate an HAProxy configuration into fastlb's.

```python
from fastlb.haproxy_import import import_file

result = import_file("/etc/haproxy/haproxy.cfg")
print("\\n".join(result.report.lines()))     # what could not be carried over, by line
if result.config is not None:
    print(result.yaml())
```

The parts: `tokenizer` (HAProxy's quoting, escapes and comments), `sections` (global,
defaults, proxies and their inheritance), `frontend`/`http_frontend`/`backend`/`servers`
(the translations), `conditions` (ACLs), `report` (what differs, line by line) and
`translate` (the whole file, checked with fastlb's own validation).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .report import Entry, Report
from .translate import Translation, translate

__all__ = ["Entry", "Report", "Translation", "import_file", "import_text", "to_yaml"]


def import_text(text: str, source: str = "haproxy.cfg") -> Translation:
    """Translate the text of an HAProxy configuration; `source` names it in the report."""
    return translate(text, source)


def import_file(path: str | Path) -> Translation:
    """Translate an HAProxy configuration file (raises OSError if it cannot be read)."""
    return translate(Path(path).read_text(encoding="utf-8", errors="replace"), str(path))


def to_yaml(translation: Translation) -> str:
    """The configuration as a fastlb YAML file, with a header naming its origin."""
    assert translation.config is not None
    header = (
        f"# fastlb configuration imported from {translation.report.source} by "
        "`fastlb import-haproxy`.\n"
        "# Read the import report (printed on stderr) for what differs from HAProxy.\n"
    )
    return header + yaml.dump(translation.config, Dumper=_PlainDumper, sort_keys=False, width=100)


class _PlainDumper(yaml.SafeDumper):
    """Writes a block shared by several frontends (the binds of one HAProxy frontend) out
    in full each time: `&id001` anchors would puzzle the reader of a config file."""

    def ignore_aliases(self, data: object) -> bool:
        return True
