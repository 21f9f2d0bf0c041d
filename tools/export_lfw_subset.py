"""Write scikit-image's LFW subset as an image tree that ``--dataset folder`` reads.

    python tools/export_lfw_subset.py DIR

``skimage.data.lfw_subset()`` ships inside scikit-image: 100 face crops drawn at random from the
Labeled Faces in the Wild set and 100 non-face crops from the backgrounds of the same photographs,
each resized to 25 x 25 grey pixels (Huang et al., NIPS 2012; http://vis-www.cs.umass.edu/lfw/).
This writes ``DIR/face/face-000.png`` ... and ``DIR/non-face/non-face-000.png`` ..., 8-bit PNG, the
same pixels. Run on a folder that exists, it refuses rather than mixing two exports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def export(folder: Path) -> int:
    from skimage.data import lfw_subset

    images = lfw_subset()  # (200, 25, 25) floats in [0, 1]: 100 faces, then 100 non-faces
    pixels = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
    for start, name in ((0, "face"), (100, "non-face")):
        (folder / name).mkdir(parents=True)
        for i, image in enumerate(pixels[start:start + 100]):
            Image.fromarray(image, mode="L").save(folder / name / f"{name}-{i:03d}.png")
    return len(pixels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the tree (must not exist)")
    folder = parser.parse_args(argv).folder
    if folder.exists():
        print(f"error: {folder} exists: give a new folder", file=sys.stderr)
        return 2
    count = export(folder)
    print(f"wrote {count} images to {folder} (classes face, non-face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
