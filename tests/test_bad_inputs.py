"""Bad and unusual inputs, as a new user makes them: each exits 2 with one line on stderr that names
the file, flag or key (and the fix), no traceback, and stops before any training starts.

Each case: (id, files to write, command-line arguments, words the message must hold). In files and
arguments, ``{tmp}`` is the test's folder, ``{tree}`` a small image tree in it and ``{recipe}`` a
tiny valid recipe (``{tmp}/r.toml``).
"""

from __future__ import annotations

import struct
import sys
import zipfile
import zlib

import numpy as np
import pytest
from conftest import TINY_TOPOLOGY, synthetic_image, write_recipe, write_tree
from PIL import Image

from dissim.storage import cache_root

RECIPE_HEAD = f'''description = "bad"
[members]
topologies = ["{TINY_TOPOLOGY}"]
'''
PROFILE = "[profile]\ninput_size = 16\niterations = 2\nbatch_size = 4\nprototypes = [2]\n"
ONESHOT = 'protocol = "oneshot"\n[settings]\nmethods = ["nn-l2"]\n'
TINY_LAYERS = '''layers = [
  { name = "conv1", type = "conv", filters = 4, kernel = 3 },
  { name = "fc", type = "fc", units = 8 },
]
'''
FOLDER = ["--dataset", "folder", "--data-root", "{tree}"]
LOADER = """import numpy as np
from dissim.data import ImageSet

def load(root, seed):
    labels = np.arange(12) % 2
    return ImageSet(name="plug", read=lambda i: {read}, labels=labels, class_names=["a", "b"],
                    folds=[(np.arange(6), np.arange(6, 12))], fingerprint="f", channels=1)
"""

CASES = [
    # -- the output folder, checked before anything runs
    ("out-is-a-file", {"afile": "x"}, [*FOLDER, "--pipeline", "{recipe}", "--out", "{tmp}/afile"], ["--out", "cannot write"]),
    ("out-is-dev-null", {}, [*FOLDER, "--pipeline", "{recipe}", "--out", "/dev/null"], ["--out /dev/null"]),
    ("out-in-proc", {}, [*FOLDER, "--pipeline", "{recipe}", "--out", "/proc/dissim-out"], ["--out /proc/dissim-out"]),
    # -- recipe [profile] values: type and range of every key, before any work
    ("lr-word", {"p.toml": RECIPE_HEAD + PROFILE.replace("iterations", 'lr = "fast"\niterations')},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[profile]: lr must be a number"]),
    ("prototypes-not-list", {"p.toml": RECIPE_HEAD + PROFILE.replace("prototypes = [2]", "prototypes = 5")},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["prototypes must be a list of integers"]),
    ("folds-not-list", {"p.toml": "folds = 1\n" + RECIPE_HEAD + PROFILE}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["folds must be a list of distinct fold numbers"]),
    ("betas-word", {"p.toml": RECIPE_HEAD + PROFILE + 'betas = "ab"\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["betas must be a list of 2 numbers"]),
    ("svm-C-negative", {"p.toml": RECIPE_HEAD + PROFILE + "svm_C = -5\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["svm_C must be positive"]),
    ("svm-gamma-nan", {"p.toml": RECIPE_HEAD + PROFILE + "svm_gamma = nan\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["svm_gamma must be a finite number"]),
    ("lr-inf", {"p.toml": RECIPE_HEAD + PROFILE + "lr = inf\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["lr must be a finite number"]),
    ("margin-negative", {"p.toml": RECIPE_HEAD + PROFILE + "triplet_margin = -1.0\n"},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["triplet_margin must be >= 0.0"]),
    ("betas-one", {"p.toml": RECIPE_HEAD + PROFILE + "betas = [0.9, 1.0]\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["betas must be < 1.0"]),
    ("profile-typo", {"p.toml": RECIPE_HEAD + PROFILE + "iteration = 3\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["unknown settings ['iteration']"]),
    # -- recipe structure
    ("recipe-key-typo", {"p.toml": "fusion = []\n" + RECIPE_HEAD}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["unknown recipe keys ['fusion']"]),
    ("members-string", {"p.toml": '[members]\ntopologies = "sn8"\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["[members]: topologies must be a non-empty list of names"]),
    ("members-typo", {"p.toml": RECIPE_HEAD + 'method = ["Cross"]\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["[members]: unknown keys ['method']"]),
    ("method-undefined", {"p.toml": RECIPE_HEAD + 'methods = ["Fast"]\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["method 'Fast' is not defined"]),
    ("method-no-optimizer", {"p.toml": RECIPE_HEAD + 'methods = ["M"]\n[methods]\nM = { loss = "bce" }\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["method M needs loss", "optimizer"]),
    ("fusion-without-name", {"p.toml": RECIPE_HEAD + '[[fusions]]\nmethods = ["Cross"]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["needs a name"]),
    ("recipe-not-toml", {"p.toml": "[profile\n"}, [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["not valid TOML"]),
    ("recipe-missing", {}, [*FOLDER, "--pipeline", "{tmp}/none.toml"], ["pipeline file", "does not exist"]),
    ("unknown-protocol", {"p.toml": 'protocol = "magic"\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["unknown protocol 'magic'", "ensemble", "oneshot"]),
    ("profile-unknown", {}, [*FOLDER, "--pipeline", "{recipe}", "--profile", "nope"],
     ["unknown pipeline 'nope' (--profile)"]),
    ("profile-base-unknown", {"p.toml": '[profile]\nbase = "nonexistent"\n'}, [*FOLDER, "--pipeline", "{tmp}/p.toml"],
     ["unknown pipeline 'nonexistent' (base = 'nonexistent' in"]),
    # -- flags
    ("seed-negative", {}, [*FOLDER, "--pipeline", "{recipe}", "--seed", "-5"], ["--seed -5: must lie in"]),
    ("seed-huge", {}, [*FOLDER, "--pipeline", "{recipe}", "--seed", str(2**70)], ["--seed", "must lie in"]),
    ("jobs-zero", {}, [*FOLDER, "--pipeline", "{recipe}", "--jobs", "0"], ["--jobs 0: must be at least 1"]),
    ("threads-zero", {}, [*FOLDER, "--pipeline", "{recipe}", "--threads", "0"], ["--threads 0: must be at least 1"]),
    ("device-tpu", {}, [*FOLDER, "--pipeline", "{recipe}", "--device", "tpu"], ["--device 'tpu'"]),
    ("device-cuda-9", {}, [*FOLDER, "--pipeline", "{recipe}", "--device", "cuda:9"], ["--device cuda:9"]),
    ("iterations-zero", {}, [*FOLDER, "--pipeline", "{recipe}", "--iterations", "0"], ["--iterations 0: must be >= 1"]),
    ("batch-one", {}, [*FOLDER, "--pipeline", "{recipe}", "--batch-size", "1"], ["--batch-size 1: must be >= 2"]),
    ("prototypes-zero", {}, [*FOLDER, "--pipeline", "{recipe}", "--prototypes", "0,2"], ["--prototypes 0,2"]),
    ("prototypes-words", {}, [*FOLDER, "--pipeline", "{recipe}", "--prototypes", "a,b"], ["--prototypes 'a,b'"]),
    ("folds-out-of-range", {}, [*FOLDER, "--pipeline", "{recipe}", "--folds", "9"], ["--folds [9]", "folds 1..5"]),
    ("spaces-unknown", {}, [*FOLDER, "--pipeline", "{recipe}", "--spaces", "fully,wide"], ["--spaces fully,wide"]),
    ("backend-unknown", {}, [*FOLDER, "--pipeline", "{recipe}", "--backend", "mpi"], ["--backend", "invalid choice"]),
    ("flag-unknown", {}, ["--bogus-flag"], ["unrecognized arguments: --bogus-flag"]),
    # -- data
    ("data-root-missing", {}, ["--dataset", "folder", "--data-root", "{tmp}/nowhere", "--pipeline", "{recipe}"],
     ["--data-root", "does not exist"]),
    ("data-root-empty", {"empty/readme.txt": "no images"}, ["--dataset", "folder", "--data-root", "{tmp}/empty"],
     ["no images found under"]),
    ("dataset-unknown", {}, ["--dataset", "imagenet"], ["unknown data set 'imagenet'"]),
    ("spectra-for-images", {}, ["--dataset", "rruff-ir", "--pipeline", "{recipe}"], ["rruff-ir is not an image data set"]),
    ("images-for-spectra", {"o.toml": ONESHOT}, ["--dataset", "digits", "--pipeline", "{tmp}/o.toml"],
     ["not a spectral data set"]),
    ("too-few-for-k", {}, [*FOLDER, "--pipeline", "{recipe}", "--prototypes", "40"], ["fewer than the 40 prototypes"]),
    ("not-an-image", {"tree/a/zz-broken.png": "not an image"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["cannot read image", "zz-broken.png", "not an image format"]),
    ("decompression-bomb", {"tree/a/zz-bomb.png": "BOMB"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["zz-bomb.png", "decompression-bomb"]),
    ("zip-bad-crc", {"data.zip": "BADCRC"}, ["--dataset", "folder", "--data-root", "{tmp}/data.zip", "--pipeline",
                                           "{recipe}"], ["data.zip:a/000.png"]),
    ("one-class", {"one/only/a.png": "PNG", "one/only/b.png": "PNG", "one/only/c.png": "PNG", "one/only/d.png": "PNG",
                   "one/only/e.png": "PNG"}, ["--dataset", "folder", "--data-root", "{tmp}/one", "--pipeline", "{recipe}"],
     ["1 class", "at least two"]),
    # -- image files and trees (issue: every entry used or reported; size and depth checked before work)
    ("png-1x100000", {"tree/a/zz-wide.png": "WIDE"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["zz-wide.png is 1x100000 pixels", "over the limit of 89,478,485 pixels"]),
    ("float-tiff-nan", {"tree/a/zz.tif": "TIFF-NAN"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["zz.tif (mode F) holds NaN or infinite values"]),
    ("int-tiff-negative", {"tree/a/zz.tif": "TIFF-NEGATIVE"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["zz.tif (mode I) holds negative values (down to -7)"]),
    ("dangling-image-link", {"tree/a/zz.png": "LINK:../../nowhere.png"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["zz.png is a link to ../../nowhere.png, which does not exist"]),
    ("folder-link-loop", {"tree/a/up": "LINK:.."}, [*FOLDER, "--pipeline", "{recipe}"],
     ["a/up is a link back to", "(a loop)"]),
    ("class-folder-linked-twice", {"tree/d": "LINK:b"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["tree/d and", "tree/b are the same folder"]),
    ("non-utf8-folder-name", {"tree/caf\udce9/0.png": "PNG"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["caf\\xe9' under", "is not valid UTF-8: rename it"]),
    ("non-utf8-file-name", {"tree/a/caf\udce9.png": "PNG"}, [*FOLDER, "--pipeline", "{recipe}"],
     ["caf\\xe9.png' under", "is not valid UTF-8"]),
    ("zip-encrypted-member", {"data.zip": "ZIP-ENCRYPTED"},
     ["--dataset", "folder", "--data-root", "{tmp}/data.zip", "--pipeline", "{recipe}"],
     ["data.zip:a/000.png is encrypted"]),
    ("zip-implode-member", {"data.zip": "ZIP-IMPLODE"},
     ["--dataset", "folder", "--data-root", "{tmp}/data.zip", "--pipeline", "{recipe}"],
     ["data.zip:a/000.png is compressed with implode", "unzip it with another tool"]),
    ("folds-1-3-5", {f"folds/Fold{k}/{c}/{i}.png": "PNG" for k in (1, 3, 5) for c in "ab" for i in range(3)},
     ["--dataset", "folder", "--data-root", "{tmp}/folds", "--pipeline", "{recipe}"],
     ["Fold folders must be numbered 1 to 3 without gaps, found Fold1, Fold3, Fold5"]),
    ("fold01-beside-fold1", {f"folds/{f}/{c}/{i}.png": "PNG" for f in ("Fold01", "Fold1", "Fold2") for c in "ab"
                             for i in range(3)},
     ["--dataset", "folder", "--data-root", "{tmp}/folds", "--pipeline", "{recipe}"],
     ["Fold01 and Fold1 both name fold 1"]),
    ("class-in-one-fold-only", {**{f"folds/Fold{k}/{c}/{i}.png": "PNG" for k in (1, 2, 3) for c in "ab"
                                   for i in range(3)}, **{f"folds/Fold2/c/{i}.png": "PNG" for i in range(3)}},
     ["--dataset", "folder", "--data-root", "{tmp}/folds", "--pipeline", "{recipe}"],
     ["class 'c' has no training images in fold 2", "every class needs training images in every fold"]),
    # -- recipes that used to fail only after training (the work was lost)
    ("description-not-a-string", {"p.toml": "description = 5\n" + RECIPE_HEAD.split("\n", 1)[1] + PROFILE},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["description must be a string", "got 5"]),
    ("table-without-columns", {"p.toml": RECIPE_HEAD + PROFILE + '[table]\ncolumns = []\nrows = [{ name = "all" }]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[table] needs rows and columns"]),
    ("table-name-with-bar", {"p.toml": RECIPE_HEAD + PROFILE + '[table]\nrows = [{ name = "a|b" }]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["name 'a|b' holds '|'"]),
    ("table-rows-same-name", {"p.toml": RECIPE_HEAD + PROFILE + '[table]\nrows = [{ name = "x" }, { name = "x" }]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["two [table] rows are named 'x'"]),
    ("per-topology-no", {"p.toml": RECIPE_HEAD + PROFILE + '[table]\nrows = [{ name = "x", per_topology = "no" }]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["per_topology must be true or false, got 'no'"]),
    ("filter-k-words", {"p.toml": RECIPE_HEAD + PROFILE + '[[fusions]]\nname = "f"\nk = ["two"]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["filter k must be a list of whole numbers"]),
    ("fusion-selects-nothing", {"p.toml": RECIPE_HEAD + PROFILE + '[[fusions]]\nname = "none"\nmethods = ["Triplet"]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[[fusions]] 'none' selects no member of this run",
                                                "{'methods': ['Triplet']}"]),
    ("fusion-group-selects-nothing", {"p.toml": RECIPE_HEAD + PROFILE + '[[fusions]]\nname = "g"\n'
                                      'groups = [{ methods = ["Cross"] }, { methods = ["eCNN"] }]\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[[fusions]] 'g' selects no member of this run in one of its groups"]),
    ("fusion-named-like-a-baseline", {"p.toml": RECIPE_HEAD + PROFILE + '[[fusions]]\nname = "raw-svm"\n'},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[[fusions]] 'raw-svm' has the name of a member or baseline row"]),
    ("prototypes-twice-in-recipe", {"p.toml": RECIPE_HEAD + PROFILE.replace("[2]", "[2, 2]")},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["prototypes lists 2 twice"]),
    ("members-twice", {"p.toml": RECIPE_HEAD + 'spaces = ["fully", "fully"]\n' + PROFILE},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["[members]: spaces lists a name twice"]),
    ("recipe-name-not-utf8", {"caf\udce9.toml": "RECIPE"}, [*FOLDER, "--pipeline", "{tmp}/caf\udce9.toml"],
     ["--pipeline", "caf\\xe9.toml", "the file name is not valid UTF-8"]),
    ("deeper-on-fc", {"t.toml": 'name = "df"\ndeeper = "fc"\n' + TINY_LAYERS},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"],
     ["deeper = 'fc' taps a layer without a spatial map", "tap one of conv1"]),
    ("layer-name-with-dot", {"t.toml": 'name = "ld"\n' + TINY_LAYERS.replace('"conv1"', '"conv.1"')},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"],
     ["layer name 'conv.1' cannot name a torch module"]),
    ("layer-named-forward", {"t.toml": 'name = "lf"\n' + TINY_LAYERS.replace('"conv1"', '"forward"')},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"], ["layer name 'forward' cannot name"]),
    ("grouped-conv-on-grey", {"t.toml": 'name = "gg"\n' + TINY_LAYERS.replace("kernel = 3 }", "kernel = 3, groups = 2 }")},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"],
     ["topology gg cannot take grey images: conv1: 1 input channel do not split into 2 groups"]),
    # -- resource bounds: refused with the numbers before work, not by the allocator or the OOM killer
    ("iterations-1e12", {}, [*FOLDER, "--pipeline", "{recipe}", "--iterations", str(10**12)],
     ["1,000,000,000,000 iterations", "more than the", "largest part: the drawn batches"]),
    ("input-size-1e5", {}, [*FOLDER, "--pipeline", "{recipe}", "--input-size", str(10**5)],
     ["preprocessing folder at 100000x100000 needs at least", "GiB of memory"]),
    ("batch-1e9", {}, [*FOLDER, "--pipeline", "{recipe}", "--batch-size", str(10**9)],
     ["largest part: the activations of a batch of 1,000,000,000 x 2"]),
    ("fc-1e9-units", {"t.toml": 'name = "hugefc"\n' + TINY_LAYERS.replace("units = 8", "units = 1000000000")},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"],
     ["training hugefc at 16x16", "largest part: parameters (785,000,000,040)"]),
    ("recipe-iterations-1e12", {"p.toml": RECIPE_HEAD + PROFILE.replace("iterations = 2", "iterations = 1000000000000")},
     [*FOLDER, "--pipeline", "{tmp}/p.toml"], ["1,000,000,000,000 iterations", "GiB of memory"]),
    # -- flags given twice or doing nothing
    ("folds-twice", {}, [*FOLDER, "--pipeline", "{recipe}", "--folds", "1,1"], ["--folds 1,1: 1 is given twice"]),
    ("prototypes-twice", {}, [*FOLDER, "--pipeline", "{recipe}", "--prototypes", "2,2"],
     ["--prototypes 2,2: 2 is given twice"]),
    ("losses-twice", {}, [*FOLDER, "--pipeline", "{recipe}", "--losses", "bce,bce"],
     ["--losses bce,bce: bce is given twice"]),
    ("topologies-twice", {}, [*FOLDER, "--pipeline", "{recipe}", "--topologies", "1,sn1"], ["--topologies 1,sn1: sn1"]),
    ("scheduler-under-loky", {}, [*FOLDER, "--pipeline", "{recipe}", "--scheduler", "tcp://10.0.0.1:8786"],
     ["--scheduler tcp://10.0.0.1:8786: applies to --backend dask or ray"]),
    ("jobs-1000", {}, [*FOLDER, "--pipeline", "{recipe}", "--jobs", "1000"],
     ["--jobs 1000: this machine has", "use at most"]),
    ("cnn-weights-a-folder", {"w/readme.txt": "x"}, [*FOLDER, "--pipeline", "{recipe}", "--cnn-weights", "lite0={tmp}/w"],
     ["--cnn-weights", "is a folder; give the weights file in it"]),
    # -- topology files
    ("topology-takes-sn1", {"t.toml": 'name = "sn1"\ndims = 2\n' + TINY_LAYERS}, [*FOLDER, "--pipeline", "{recipe}",
                                                                              "--topologies", "{tmp}/t.toml"],
     ["name 'sn1' is already taken"]),
    ("dropout-p-2", {"t.toml": 'name = "dp"\n' + TINY_LAYERS.replace("]\n", '  { type = "dropout", p = 2.0 },\n]\n')},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"], ["dropout p must be a number in [0, 1)"]),
    ("slope-word", {"t.toml": 'name = "lr"\n' + TINY_LAYERS.replace(
        '  { name = "fc"', '  { type = "leakyrelu", slope = "steep" },\n  { name = "fc"')},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"], ["slope must be a non-negative number"]),
    ("topology-name-number", {"t.toml": "name = 5\n" + TINY_LAYERS}, [*FOLDER, "--pipeline", "{recipe}",
                                                                       "--topologies", "{tmp}/t.toml"],
     ["name must be a word"]),
    ("conv-after-fc", {"t.toml": 'name = "cf"\n' + TINY_LAYERS.replace(
        "]\n", '  { name = "late", type = "conv", filters = 2, kernel = 1 },\n  { name = "out", type = "fc", units = 4 },\n]\n')},
     [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/t.toml"], ["layer late (conv) follows a flattened layer"]),
    ("topology-missing", {}, [*FOLDER, "--pipeline", "{recipe}", "--topologies", "{tmp}/none.toml"],
     ["topology file", "does not exist"]),
    ("deeper-missing", {"t.toml": 'name = "nd"\n' + TINY_LAYERS}, [*FOLDER, "--pipeline", "{recipe}", "--topologies",
                                                                    "{tmp}/t.toml", "--spaces", "deeper"],
     ["names no DEEPER layer"]),
    # -- plug-ins that do not import
    ("optimizer-raises-on-import", {"plug/badopt.py": "raise RuntimeError('broken plug-in')\n"},
     [*FOLDER, "--pipeline", "{recipe}", "--optimizers", "badopt:make"], ["importing module 'badopt' failed",
                                                                          "RuntimeError"]),
    ("optimizer-syntax-error", {"plug/synopt.py": "def make(:\n"},
     [*FOLDER, "--pipeline", "{recipe}", "--optimizers", "synopt:make"], ["SyntaxError"]),
    ("optimizer-unknown", {}, [*FOLDER, "--pipeline", "{recipe}", "--optimizers", "sgdx"], ["unknown optimizer 'sgdx'"]),
    ("loss-unknown", {}, [*FOLDER, "--pipeline", "{recipe}", "--losses", "hinge"], ["unknown loss 'hinge'"]),
    # -- data-set loaders given as pkg.module:function that return the wrong thing
    ("loader-returns-none", {"plug/badload.py": "def load(root, seed):\n    return None\n"},
     ["--dataset", "badload:load", "--pipeline", "{recipe}"], ["'badload:load'", "returned NoneType, not a dissim"]),
    ("loader-wrong-signature", {"plug/sigload.py": "def load():\n    return None\n"},
     ["--dataset", "sigload:load", "--pipeline", "{recipe}"], ["'sigload:load'", "failed: TypeError",
                                                               "loader(data_root, seed)"]),
    ("loader-float-images", {"plug/floatload.py": LOADER.format(read="np.zeros((8, 8, 1))")},
     ["--dataset", "floatload:load", "--pipeline", "{recipe}"], ["read(0) gave float64 (8, 8, 1)", "uint8"]),
    ("loader-labels-out-of-range", {"plug/labload.py": LOADER.format(read="np.zeros((8, 8, 1), np.uint8)").replace(
        "labels = np.arange(12) % 2", "labels = np.arange(12) % 3")},
     ["--dataset", "labload:load", "--pipeline", "{recipe}"], ["labels must index class_names (0..1), got 0..2"]),
    ("loader-fold-out-of-range", {"plug/foldload.py": LOADER.format(read="np.zeros((8, 8, 1), np.uint8)").replace(
        "np.arange(6, 12)", "np.arange(6, 13)")},
     ["--dataset", "foldload:load", "--pipeline", "{recipe}"], ["fold 1 holds indices that are not items 0..11"]),
    # -- one-shot recipes
    ("oneshot-prototypes", {"o.toml": ONESHOT}, ["--pipeline", "{tmp}/o.toml", "--prototypes", "3"],
     ["--prototypes does not apply to oneshot recipes"]),
    ("oneshot-setting-typo", {"o.toml": ONESHOT + "epoch = 3\n"}, ["--pipeline", "{tmp}/o.toml"],
     ["unknown settings ['epoch']"]),
    ("oneshot-fractions", {"o.toml": ONESHOT + "fractions = [0.6, 0.6, 0.1]\n"}, ["--pipeline", "{tmp}/o.toml"],
     ["summing to 1"]),
    ("oneshot-odd-batch", {"o.toml": ONESHOT}, ["--pipeline", "{tmp}/o.toml", "--batch-size", "7"],
     ["--batch-size 7: must be an even integer"]),
    ("oneshot-2d-topology", {"o.toml": ONESHOT}, ["--pipeline", "{tmp}/o.toml", "--topologies", "sn1"],
     ["topology sn1 is 2-D"]),
    ("oneshot-method-unknown", {"o.toml": ONESHOT.replace('"nn-l2"', '"knn"')}, ["--pipeline", "{tmp}/o.toml"],
     ["unknown one-shot method 'knn'"]),
    ("oneshot-too-few-classes", {"o.toml": ONESHOT}, ["--pipeline", "{tmp}/o.toml", "--dataset", "coffee"],
     ["needs at least 15 classes"]),
    # -- cache
    ("fuse-only-empty", {}, [*FOLDER, "--pipeline", "{recipe}", "--fuse-only", "--out", "{tmp}/o"],
     ["--fuse-only", "not in the cache"]),
]


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (and holds no pixel data worth the name)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _zip_of_tree(path, tmp_path, flags: int = 0, method: int | None = None) -> None:
    """A zip of a small tree; its first member's header fields patched (flags, compression method)."""
    tree = write_tree(tmp_path / "for-zip", per_class=6)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for file in sorted(tree.rglob("*.png")):
            archive.write(file, file.relative_to(tree).as_posix())
    data = bytearray(path.read_bytes())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory entry
        start = data.index(signature)
        data[start + at:start + at + 2] = struct.pack("<H", struct.unpack("<H", data[start + at:start + at + 2])[0] | flags)
        if method is not None:
            data[start + at + 2:start + at + 4] = struct.pack("<H", method)
    path.write_bytes(bytes(data))


def _write(path, content: str, tmp_path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content.startswith("LINK:"):
        path.symlink_to(content[len("LINK:"):])
    elif content == "RECIPE":
        write_recipe(path)
    elif content == "WIDE":  # a real PNG of 1 x 100000 black pixels: 177 bytes
        Image.new("L", (1, 100000)).save(path)
    elif content in ("TIFF-NAN", "TIFF-NEGATIVE"):
        values = np.full((20, 16), np.nan, np.float32) if content == "TIFF-NAN" else np.full((20, 16), -7, np.int32)
        Image.fromarray(values).save(path)
    elif content == "ZIP-ENCRYPTED":
        _zip_of_tree(path, tmp_path, flags=0x1)
    elif content == "ZIP-IMPLODE":
        _zip_of_tree(path, tmp_path, method=6)
    elif content == "BOMB":
        path.write_bytes(_png_claiming(30000, 30000))
    elif content == "PNG":
        Image.fromarray(synthetic_image(0, np.random.default_rng(0))).save(path)
    elif content == "BADCRC":
        tree = write_tree(tmp_path / "for-zip", per_class=6)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in sorted(tree.rglob("*.png")):
                archive.write(file, file.relative_to(tree).as_posix())
        data = bytearray(path.read_bytes())
        start = data.index(b"IDAT") + 8  # a byte inside the first member's pixel data, same size
        data[start] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_text(content)


@pytest.mark.parametrize("case, files, args, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_before_any_training(case, files, args, words, cli, tmp_path, monkeypatch):
    tree = write_tree(tmp_path / "tree", per_class=6)
    write_recipe(tmp_path / "r.toml")
    for name, content in files.items():
        _write(tmp_path / name, content, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "plug"))
    values = {"tmp": tmp_path, "tree": tree, "recipe": tmp_path / "r.toml"}
    for module in [name[len("plug/"):-3] for name in files if name.startswith("plug/")]:
        monkeypatch.delitem(sys.modules, module, raising=False)
    status, _, err = cli(*[a.format(**values) for a in args], "--no-progress")
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    trained = [p for p in (cache_root() / "members").rglob("*.npz")] if (cache_root() / "members").exists() else []
    assert not trained, "an input that can be checked up front was found only after training"


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


def test_a_cache_that_is_not_a_writable_folder_is_one_line_before_work(cli, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "a-file" / "cache"))
    status, _, err = cli("--dataset", "folder", "--data-root", write_tree(tmp_path / "tree", per_class=6),
                         "--pipeline", write_recipe(tmp_path / "r.toml"), "--out", tmp_path / "o", "--no-progress")
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: DISSIM_CACHE {tmp_path / 'a-file' / 'cache'}: cannot write there"), err


def test_a_3000_wide_kernel_is_refused_with_the_memory_it_needs(cli, tmp_path, monkeypatch):
    from dissim import hardware

    monkeypatch.setattr(hardware, "memory_bytes", lambda device: 8 * 2**30)  # a machine of 8 GiB
    (tmp_path / "k.toml").write_text('name = "k3000"\n' + TINY_LAYERS.replace("kernel = 3 }", "kernel = 3000 }"))
    status, _, err = cli("--topologies", tmp_path / "k.toml", "--spaces", "fully", "--no-progress",
                         "--out", tmp_path / "o")
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert ("preprocessing digits at 3000x3000 needs at least 30.1 GiB of memory, more than the 8.0 GiB of this "
            "machine") in err


@pytest.mark.parametrize("flag, value, words", [
    ("--epochs", "0", "--epochs 0: must be an int in the range [1, inf)"),
    ("--batch-size", "1", "--batch-size 1: must be an int in the range [2, inf)"),
    ("--lr", "nan", "--lr nan: must be a float in the range (0.0, inf)"),
    ("--patience", "-3", "--patience -3: must be an int in the range [1, inf)"),
    ("--seed", "-1", "--seed -1: must lie in"),
])
def test_library_build_flags_out_of_range_are_one_line_before_work(flag, value, words, tmp_path, capsys):
    from dissim.cli import main

    assert main(["library", "build", str(tmp_path / "x.lib"), flag, value]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {words}"), err
    assert not (tmp_path / "x.lib").exists()
