"""The migration at a glance: rows per entity, loaded / skipped / quarantined, as a PNG (for the report asset's
metadata and docs)."""

from __future__ import annotations

import base64
import io


def migration_chart(report: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    rows = [e for e in report["entities"] if e["source"]]
    names = [e["entity"] for e in rows]
    loaded = [e["loaded"] for e in rows]
    skipped = [e["skipped"] for e in rows]
    quarantined = [e["quarantined"] for e in rows]
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(rows))), dpi=100)
    ax.barh(names, loaded, color="#2e9e5b", label="loaded")
    ax.barh(names, skipped, left=loaded, color="#c9a227", label="skipped (rule)")
    ax.barh(names, quarantined, left=[a + b for a, b in zip(loaded, skipped)], color="#c0392b", label="quarantined")
    ax.invert_yaxis()
    ax.set_xlabel("source records")
    ax.set_title(f"Migration ({report['settings'].get('mode', '')}): every source record accounted for"
                 if report["all_accounted_for"] else "Migration: some records unaccounted for")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def as_markdown(png: bytes) -> str:
    return f"![migration](data:image/png;base64,{base64.b64encode(png).decode()})"
