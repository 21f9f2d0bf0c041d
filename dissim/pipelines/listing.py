"""``--list topologies``: per topology its size, embedding, minimum input and DEEPER layer."""

from __future__ import annotations

from ..nets import get_topology, list_topologies

IMAGE_CHANNELS = 3  # images are listed for colour input, the paper's usual case
SIGNAL_CHANNELS, SIGNAL_LENGTH = 1, 900  # spectra: one channel, the rruff-ir grid


def topology_listing(size: int = 224) -> str:
    header = (f"{'topology':<14} {'parameters':>13} {'embedding':>9} {'min input':>9}  "
              f"{'DEEPER layer':<12} {'DEEPER output':<16} description")
    lines = [f"(images: {IMAGE_CHANNELS} channels at {size}x{size}; 1-D tables: {SIGNAL_CHANNELS} channel, "
             f"length {SIGNAL_LENGTH})", header]
    for name in list_topologies():
        t = get_topology(name)
        channels = IMAGE_CHANNELS if t.dims == 2 else SIGNAL_CHANNELS
        n = size if t.dims == 2 else SIGNAL_LENGTH
        try:
            params = t.parameter_count(channels, n)
            emb = t.embedding_dim(channels, n)
            deeper = "x".join(str(d) for d in t.deeper_shape(channels, n)) if t.deeper else "-"
        except Exception:  # a table that is invalid at this size still gets listed
            params, emb, deeper = 0, 0, "(invalid at this size)"
        lines.append(f"{name:<14} {params:>13,} {emb:>9} {t.min_input_size(channels):>9}  "
                     f"{t.deeper or '-':<12} {deeper:<16} {t.description}")
    return "\n".join(lines)
