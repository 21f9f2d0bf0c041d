"""``--list topologies``: per topology its size, embedding, minimum input and DEEPER layer."""

from __future__ import annotations

from ..nets import get_topology, list_topologies

LISTING_CHANNELS = 3  # the listing is for colour input, the paper's usual case


def topology_listing(size: int = 224, channels: int = LISTING_CHANNELS) -> str:
    header = (f"{'topology':<14} {'parameters':>13} {'embedding':>9} {'min input':>9}  "
              f"{'DEEPER layer':<12} {'DEEPER output at ' + str(size):<24} description")
    lines = [f"(colour input, {channels} channels; sizes at {size}x{size} unless the topology is 1-D)", header]
    for name in list_topologies():
        t = get_topology(name)
        n = size if t.dims == 2 else max(size, t.min_input_size(channels))
        try:
            params = t.parameter_count(channels, n)
            emb = t.embedding_dim(channels, n)
            deeper = "x".join(str(d) for d in t.deeper_shape(channels, n)) if t.deeper else "-"
        except Exception:  # a table that is invalid at this size still gets listed
            params, emb, deeper = 0, 0, "(invalid at this size)"
        lines.append(f"{name:<14} {params:>13,} {emb:>9} {t.min_input_size(channels):>9}  "
                     f"{t.deeper or '-':<12} {deeper:<24} {t.description}")
    return "\n".join(lines)
