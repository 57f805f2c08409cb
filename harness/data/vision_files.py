"""Readers for image datasets in the layouts their users download them in.

* `idx` — MNIST / Fashion-MNIST's original idx files (images and labels, gzip or plain).
* `cifar_pickle` — CIFAR-10 `cifar-10-batches-py/*` and CIFAR-100 `cifar-100-python/*`.
* `imagefolder` — `<root>/<split>/<class name>/*.png|jpg`, or nested deeper with the class at
  a chosen folder level (Omniglot's `<alphabet>/<character>/*.png`).
* `svhn_mat` — SVHN cropped digits `train_32x32.mat` / `test_32x32.mat`.
* parquet (`harness.data.tabular.read_parquet`) — the Hub's layout (an image struct
  `{bytes, path}` column and a label column) is cast to `datasets.Image()` for an image card,
  by `ensure_image_column` here, even when the file carries no Hub metadata.

Every reader returns a `datasets.Dataset` with the card's image column (feature
`datasets.Image()`, decoding to PIL images) and its label column (ints). Unreadable or
inconsistent files raise `DataError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zlib
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from harness.cards import TaskCard
from harness.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# idx type codes (third byte of the magic number) -> numpy dtype, big-endian
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _options(spec: dict[str, Any]) -> dict[str, Any]:
    return spec.get("options") or {}


def _image_column(card: TaskCard) -> str:
    return card.inputs.get("image", "image")


# ---------------------------------------------------------------------------------------
# building datasets from arrays
# ---------------------------------------------------------------------------------------


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of one uint8 image, H×W (grey), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA)."""
    from PIL import Image

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encoded_to_dataset(encoded: list[bytes], labels: list[int], card: TaskCard) -> datasets.Dataset:
    """A Dataset of the card's image column (`datasets.Image()` from encoded image bytes) and
    int labels, built as one Arrow table (much faster than `Dataset.from_dict` on 50k rows)."""
    import pyarrow as pa

    if len(encoded) != len(labels):
        raise DataError(f"task '{card.name}': {len(encoded)} images but {len(labels)} labels")
    image_col = _image_column(card)
    features = datasets.Features({image_col: datasets.Image(), card.label: datasets.Value("int64")})
    images = pa.StructArray.from_arrays(
        [pa.array(encoded, pa.binary()), pa.nulls(len(encoded), pa.string())],
        names=["bytes", "path"],
    )
    table = pa.table({image_col: images, card.label: pa.array(labels, pa.int64())})
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


def images_to_dataset(
    images: np.ndarray, labels: np.ndarray | list[int], card: TaskCard
) -> datasets.Dataset:
    """A Dataset with the card's image column (PNG-encoded `datasets.Image()`) and int labels."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DataError(f"task '{card.name}': images must be uint8, got {images.dtype}")
    labels = [int(x) for x in np.asarray(labels).reshape(-1)]
    return encoded_to_dataset([encode_png(x) for x in images], labels, card)


def _concat(parts: list[datasets.Dataset]) -> datasets.Dataset:
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip file: {exc}") from exc
    return raw


# ---------------------------------------------------------------------------------------
# idx (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------------------


def read_idx_array(path: Path) -> np.ndarray:
    """Parse one idx file (`0 0 <type> <ndim>`, then ndim big-endian uint32 sizes, then data)."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        magic = data[:4].hex() if len(data) >= 4 else repr(data[:4])
        raise DataError(
            f"{path}: not an idx file: bad magic number {magic} "
            "(expected 0x0000 then a type code 08/09/0b/0c/0d/0e and the number of dimensions)"
        )
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: idx header is truncated ({len(data)} bytes, needs {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: idx header says shape {dims} ({expected} bytes of data) but the file has "
            f"{len(data) - header} bytes after the header (truncated or corrupt)"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """An images file (N×H×W[×C] uint8) and a labels file (N) in idx format, in either order."""
    if len(files) != 2:
        raise DataError(
            f"{files[0] if files else '?'}: the idx format needs two files per split (images and labels), got {len(files)}: {[str(f) for f in files]}"
        )
    arrays = {Path(f): read_idx_array(f) for f in files}
    images = [(f, a) for f, a in arrays.items() if a.ndim in (3, 4)]
    labels = [(f, a) for f, a in arrays.items() if a.ndim == 1]
    if len(images) != 1 or len(labels) != 1:
        shapes = ", ".join(f"{f} {a.shape}" for f, a in arrays.items())
        raise DataError(
            f"idx split needs one images file (3 or 4 dimensions) and one labels file (1 dimension); got {shapes}"
        )
    (img_file, img), (lab_file, lab) = images[0], labels[0]
    if img.dtype != np.uint8:
        raise DataError(
            f"{img_file}: idx images must be unsigned bytes (type 0x08), got {img.dtype}"
        )
    if len(img) != len(lab):
        raise DataError(f"{img_file} has {len(img)} images but {lab_file} has {len(lab)} labels")
    return images_to_dataset(img, lab.astype(np.int64), card)


# ---------------------------------------------------------------------------------------
# CIFAR python pickles
# ---------------------------------------------------------------------------------------


def _load_pickle(path: Path) -> dict[str, Any]:
    # The CIFAR batches are pickles; only point cards at files you trust.
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="bytes")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... on corrupt files
        raise DataError(
            f"{path}: not a readable python pickle: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: expected a pickled dict with 'data' and labels, got {type(obj).__name__}"
        )
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_cifar_pickle(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """CIFAR batches: `data` N×3072 uint8 (channel-major 3×32×32) and `labels` / `fine_labels`.

    Options: `label_key` (default `labels`, else `fine_labels`), `image_shape` (default [3, 32, 32]).
    Several files (data_batch_1..5) are concatenated in the order given.
    """
    opts = _options(spec)
    key = opts.get("label_key")
    shape = tuple(int(s) for s in opts.get("image_shape", (3, 32, 32)))
    size = int(np.prod(shape))
    all_images, all_labels = [], []
    for f in files:
        batch = _load_pickle(f)
        label_key = key or next((k for k in ("labels", "fine_labels") if k in batch), "labels")
        if "data" not in batch or label_key not in batch:
            raise DataError(
                f"{f}: CIFAR batch needs keys 'data' and '{label_key}'; found {sorted(batch)}"
            )
        data = np.asarray(batch["data"])
        labels = np.asarray(batch[label_key]).reshape(-1)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
            raise DataError(
                f"{f}: 'data' must be an N×{size} uint8 array, got {data.shape} {data.dtype}"
            )
        if len(data) != len(labels):
            raise DataError(f"{f}: 'data' has {len(data)} rows but '{label_key}' has {len(labels)}")
        all_images.append(data.reshape(len(data), *shape).transpose(0, 2, 3, 1))
        all_labels.append(labels.astype(np.int64))
    return images_to_dataset(np.concatenate(all_images), np.concatenate(all_labels), card)


# ---------------------------------------------------------------------------------------
# image folders
# ---------------------------------------------------------------------------------------


def _check_image(path: Path) -> bytes:
    from PIL import Image, UnidentifiedImageError

    try:
        raw = path.read_bytes()
        with Image.open(io.BytesIO(raw)) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from exc
    return raw


def _class_folders(root: Path, level: int) -> list[tuple[Path, str]]:
    """The folders `level` levels below `root` (hidden ones skipped), each with its path from
    `root` (`Korean/character01`)."""
    found = [(root, "")]
    for _ in range(level):
        found = [
            (sub, f"{rel}/{sub.name}" if rel else sub.name)
            for folder, rel in found
            for sub in sorted(
                p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        ]
    return found


def _images_under(folder: Path) -> list[Path]:
    """Every image file at any depth below `folder`, in path order (hidden entries skipped)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def read_imagefolder(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """`<split folder>/<class>/*.png|jpg`; each class folder is a label name of the card.

    Options: `class_map` ({folder name: label name}) for names that can't be folder names;
    `label_level` (default 1): the folder level below the split folder that names the class,
    images anywhere below it (2 for `<alphabet>/<character>/*.png` labelled by character);
    `label_path` (default false): the class name is the folder's path from the split folder
    (`Korean/character01`), for class folders whose names repeat under different parents.
    """
    opts = _options(spec)
    index = {name: i for i, name in enumerate(card.label_names)}
    class_map = {str(k): str(v) for k, v in (opts.get("class_map") or {}).items()}
    level, by_path = int(opts.get("label_level", 1)), bool(opts.get("label_path", False))
    layout = "/".join(["<group>"] * (level - 1) + ["<class>"])
    encoded: list[bytes] = []
    labels: list[int] = []
    for root in files:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: the imagefolder format needs a folder of class folders")
        before = len(encoded)
        for class_dir, rel in _class_folders(root, level):
            folder_name = rel if by_path else class_dir.name
            name = class_map.get(folder_name, folder_name)
            if name not in index:
                shown = f"{list(card.label_names)[:20]}{' ...' if len(index) > 20 else ''}"
                raise DataError(
                    f"{class_dir}: folder '{folder_name}' (label_level {level}) is not a class of "
                    f"task '{card.name}' (label names: {shown}; map folder names with "
                    f"options.class_map, or choose the level with options.label_level)"
                )
            for img in _images_under(class_dir):
                encoded.append(_check_image(img))
                labels.append(index[name])
        if len(encoded) == before:
            raise DataError(
                f"{root}: no images found (expected {layout}/**/*{'|*'.join(IMAGE_SUFFIXES)}; "
                f"options.label_level is {level})"
            )
    return encoded_to_dataset(encoded, labels, card)


# ---------------------------------------------------------------------------------------
# SVHN .mat
# ---------------------------------------------------------------------------------------


def read_svhn_mat(files: list[Path], spec: dict[str, Any], card: TaskCard) -> datasets.Dataset:
    """SVHN cropped digits: `X` is 32×32×3×N uint8, `y` is N×1 with 10 meaning the digit 0."""
    import scipy.io

    all_images, all_labels = [], []
    for f in files:
        try:
            mat = scipy.io.loadmat(f)
        except Exception as exc:  # MatReadError, ValueError, OSError... on corrupt files
            raise DataError(
                f"{f}: cannot read as a MATLAB .mat file: {type(exc).__name__}: {exc}"
            ) from exc
        if "X" not in mat or "y" not in mat:
            raise DataError(
                f"{f}: SVHN .mat needs variables 'X' and 'y'; found {sorted(k for k in mat if not k.startswith('__'))}"
            )
        x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
        if x.ndim != 4 or x.dtype != np.uint8:
            raise DataError(f"{f}: 'X' must be an H×W×C×N uint8 array, got {x.shape} {x.dtype}")
        if x.shape[3] != len(y):
            raise DataError(f"{f}: 'X' has {x.shape[3]} images but 'y' has {len(y)} labels")
        all_images.append(x.transpose(3, 0, 1, 2))
        y = y.astype(np.int64)
        all_labels.append(np.where(y == 10, 0, y))
    return images_to_dataset(np.concatenate(all_images), np.concatenate(all_labels), card)


# ---------------------------------------------------------------------------------------
# Hub parquet
# ---------------------------------------------------------------------------------------


def ensure_image_column(ds: datasets.Dataset, card: TaskCard, where: str = "") -> datasets.Dataset:
    """Cast the card's image column to `datasets.Image()` if it is stored as {bytes, path} or bytes."""
    col = _image_column(card)
    if col not in ds.column_names:
        return ds  # validate_split reports the missing column
    feature = ds.features[col]
    if isinstance(feature, datasets.Image):
        return ds
    is_struct = isinstance(feature, dict) and "bytes" in feature
    is_binary = isinstance(feature, datasets.Value) and feature.dtype in ("binary", "large_binary")
    if not (is_struct or is_binary):
        raise DataError(
            f"{where or card.name}: column '{col}' holds {feature}, not images ({{bytes, path}} structs or bytes)"
        )
    try:
        return ds.cast_column(col, datasets.Image())
    except Exception as exc:
        raise DataError(
            f"{where or card.name}: cannot read column '{col}' as images: {exc}"
        ) from exc
