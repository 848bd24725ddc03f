"""Datasets for `codegen eval`: an .npz of input arrays (and labels), or a folder of images.

.npz: `x` holds the inputs of a one-input model, first axis = samples; a model with several inputs takes
`x0`, `x1`, ... (a one-input model accepts `x0` too). Each sample has the model input's shape, or that shape
without its leading batch of 1, and exactly the input's dtype (int8 arrays for int8 models, float32 for
float-I/O models): nothing is converted silently. Optional `y`: integer class labels, one per sample, or
one-hot rows.

Image folder: every .png/.bmp/.jpg/.jpeg/.pgm/.ppm/.pnm file in it, by sorted file name; if it has
sub-folders instead, each sub-folder is a class (label = its index in the sorted sub-folder names) and its
images are the samples of that class. Images must already have the model's height x width (nothing is
resized) and are converted to the model's channel count: 1 channel = grayscale (Pillow's ITU-R 601-2
luma), 3 channels = RGB (grayscale replicated); alpha is dropped. Pixel p (0..255) becomes:
    int8 input:    p - 128   (the exact quantization of p / 255 with the usual image-input scale 1/255 and
                              zero point -128, and of p with scale 1 and zero point -128; TFLM's camera
                              examples feed pixels this way)
    uint8 input:   p
    float32 input: p / 255
Any other input (several inputs, not H x W x C, C not 1 or 3, other dtypes) is refused.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.errors import CodegenError
from codegen.ir import NUMPY_DTYPES, Graph, Tensor

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm")
# Pillow modes of 8-bit images that convert losslessly (apart from alpha) to grayscale or RGB.
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX"})


@dataclass
class Dataset:
    inputs: list[np.ndarray]  # one per model input: (samples, *input shape), the input's dtype
    labels: np.ndarray | None  # (samples,) int64 class indices
    names: list[str] | None = None  # per-sample file names of an image folder
    classes: list[str] | None = None  # sub-folder names of an image folder, in label order

    def __len__(self) -> int:
        return len(self.inputs[0])

    def sample(self, i: int) -> list[np.ndarray]:
        return [x[i] for x in self.inputs]


def load_dataset(path: Path, graph: Graph, limit: int | None = None) -> Dataset:
    """Read and check a dataset against the model's inputs; `limit` keeps the first samples only."""
    path = Path(path)
    if limit is not None and limit < 1:
        raise CodegenError(f"--limit must be at least 1, not {limit}")
    if path.is_dir():
        data = _load_image_folder(path, graph, limit)
    elif path.is_file():
        data = _load_npz(path, graph, limit)
    else:
        raise CodegenError(f"dataset {path} does not exist")
    if len(data) == 0:
        raise CodegenError(f"dataset {path} holds no samples")
    return data


# ---- .npz ------------------------------------------------------------------------------------------------


def _load_npz(path: Path, graph: Graph, limit: int | None) -> Dataset:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CodegenError(f"dataset {path} is a single array, not an .npz: save it with np.savez(path, x=...)")
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # np.load raises these for other files, pickled object arrays and truncated archives.
        raise CodegenError(f"cannot read dataset {path}: expected an .npz file or a folder of images ({exc})") \
            from None
    keys = _input_keys(path, graph, arrays)
    inputs = [_check_input(path, key, arrays[key], graph.tensor(t), i)
              for i, (key, t) in enumerate(zip(keys, graph.inputs, strict=True))]
    count = len(inputs[0])
    for key, x in zip(keys, inputs, strict=True):
        if len(x) != count:
            raise CodegenError(f"dataset {path}: '{key}' has {len(x)} samples, '{keys[0]}' has {count}")
    labels = _labels(path, arrays["y"], count) if "y" in arrays else None
    if limit is not None:
        inputs = [x[:limit] for x in inputs]
        labels = None if labels is None else labels[:limit]
    return Dataset(inputs, labels)


def _input_keys(path: Path, graph: Graph, arrays: dict[str, np.ndarray]) -> list[str]:
    n = len(graph.inputs)
    have = ", ".join(sorted(arrays)) or "none"
    if n == 1:
        for key in ("x", "x0"):
            if key in arrays:
                return [key]
        raise CodegenError(f"dataset {path} has no 'x' array (arrays: {have}): put the model's inputs in 'x', "
                           "first axis = samples")
    keys = [f"x{i}" for i in range(n)]
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise CodegenError(f"dataset {path} has no '{missing[0]}' array (arrays: {have}): {graph.name} takes "
                           f"{n} inputs, given as {', '.join(keys)}")
    return keys


def _check_input(path: Path, key: str, x: np.ndarray, t: Tensor, i: int) -> np.ndarray:
    want = np.dtype(NUMPY_DTYPES[t.dtype])
    if x.dtype != want:
        raise CodegenError(f"dataset {path}: '{key}' is {x.dtype}, the model's input {i} takes {want}")
    shapes = [tuple(t.shape)] + ([tuple(t.shape[1:])] if len(t.shape) >= 1 and t.shape[0] == 1 else [])
    if x.ndim == 0 or tuple(x.shape[1:]) not in shapes:
        raise CodegenError(
            f"dataset {path}: '{key}' has shape {tuple(x.shape)}, i.e. samples of {tuple(x.shape[1:])}; the "
            f"model's input {i} takes {tuple(t.shape)} (first axis = samples)"
        )
    if x.dtype.kind == "f":
        finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if not finite.all():
            raise CodegenError(f"dataset {path}: '{key}' sample {int(np.argmin(finite))} contains NaN or infinite "
                               "values; the model takes finite numbers")
    return np.ascontiguousarray(x.reshape((len(x), *t.shape)))


def _labels(path: Path, y: np.ndarray, count: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        nonzero = np.count_nonzero(y, axis=1)
        if not np.issubdtype(y.dtype, np.number) or np.any(nonzero != 1):
            bad = int(np.argmax(nonzero != 1)) if np.any(nonzero != 1) else 0
            raise CodegenError(f"dataset {path}: 'y' is 2-D but row {bad} is not one-hot (one non-zero entry)")
        labels = np.argmax(y != 0, axis=1).astype(np.int64)
    elif y.ndim == 1:
        # Float labels are common from Keras; they are fine as long as they are whole numbers.
        whole = np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))
        if np.issubdtype(y.dtype, np.integer) or whole:
            labels = y.astype(np.int64)
        else:
            raise CodegenError(f"dataset {path}: 'y' holds {y.dtype} values; labels must be integer class indices")
    else:
        raise CodegenError(f"dataset {path}: 'y' has shape {tuple(y.shape)}; expected (samples,) class indices "
                           "or (samples, classes) one-hot rows")
    if len(labels) != count:
        raise CodegenError(f"dataset {path}: 'y' has {len(labels)} labels for {count} samples")
    if np.any(labels < 0):
        raise CodegenError(f"dataset {path}: 'y' has a negative label ({int(labels.min())})")
    return labels


# ---- image folders -----------------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _load_image_folder(folder: Path, graph: Graph, limit: int | None) -> Dataset:
    tensor = _image_input(folder, graph)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    top = _image_files(folder)
    if subdirs and top:
        raise CodegenError(f"dataset {folder} has both images ({top[0].name}, ...) and class sub-folders "
                           f"({subdirs[0].name}, ...): keep one layout")
    if subdirs:
        files = [(f, label) for label, d in enumerate(subdirs) for f in _image_files(d)]
        classes: list[str] | None = [d.name for d in subdirs]
    else:
        files = [(f, -1) for f in top]
        classes = None
    if not files:
        raise CodegenError(f"dataset {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    if limit is not None:
        files = files[:limit]
    images = np.stack([_read_image(f, tensor) for f, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64) if classes else None
    names = [str(f.relative_to(folder)) for f, _ in files]
    return Dataset([images], labels, names, classes)


def _image_input(folder: Path, graph: Graph) -> Tensor:
    if len(graph.inputs) != 1:
        raise CodegenError(f"an image folder ({folder}) can feed only a one-input model; {graph.name} takes "
                           f"{len(graph.inputs)}: use an .npz dataset")
    t = graph.tensor(graph.inputs[0])
    shape = t.shape[1:] if len(t.shape) == 4 and t.shape[0] == 1 else t.shape
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise CodegenError(f"an image folder ({folder}) needs a model input of height x width x 1 or 3 channels; "
                           f"{graph.name} takes {tuple(t.shape)}: use an .npz dataset")
    if t.dtype not in ("int8", "uint8", "float32"):
        raise CodegenError(f"images cannot feed an input of type {t.dtype}: use an .npz dataset")
    return t


def _read_image(path: Path, t: Tensor) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise CodegenError("reading image folders needs Pillow: pip install pillow (or use an .npz dataset)") \
            from None
    height, width, channels = t.shape[-3:]
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 89M and 179M pixels (and raises above): refuse both, unread.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                # Mode and size come from the header and are checked before any pixel is decoded: no image
                # larger than the model's input is ever decompressed.
                if image.mode not in _EIGHT_BIT_MODES:
                    raise CodegenError(f"image {path} has pixel mode {image.mode}: only 8-bit grayscale or RGB "
                                       "images are supported")
                if image.size != (width, height):
                    raise CodegenError(f"image {path} is {image.size[0]}x{image.size[1]} (width x height), the "
                                       f"model takes {width}x{height}: resize the images first")
                image.load()
                pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CodegenError(f"image {path} is refused unread, too large: {exc} (the model takes {width}x{height})") \
            from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise CodegenError(f"cannot read image {path}: {exc}") from None
    pixels = pixels.reshape(height, width, channels)
    if t.dtype == "int8":
        values: np.ndarray = (pixels.astype(np.int16) - 128).astype(np.int8)
    elif t.dtype == "uint8":
        values = pixels
    else:
        values = pixels.astype(np.float32) / np.float32(255.0)
    return values.reshape(t.shape)
