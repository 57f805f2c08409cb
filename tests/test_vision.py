"""Vision task cards and the image file readers (idx, CIFAR pickles, image folders, SVHN .mat,
Hub parquet).

Offline tests write tiny fixtures in each card's own local layouts; `realdata` tests read the
shared copies of CIFAR-10 and MNIST under $TRANSFERBENCH_DATA_DIR.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import gzip  # noqa: E402
import io  # noqa: E402
import pickle  # noqa: E402
from pathlib import Path  # noqa: E402

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from harness.cards import TaskCard  # noqa: E402
from harness.data.formats import FORMATS  # noqa: E402
from harness.data.loading import DATA_DIR_ENV, load_raw_split, load_task  # noqa: E402
from harness.data.tabular import read_parquet  # noqa: E402
from harness.data.vision_files import encode_png, read_idx_array  # noqa: E402
from harness.errors import DataError  # noqa: E402
from harness.taskregistry import builtin_tasks_dir, load_cards  # noqa: E402

ROWS = 12  # rows per fixture split


def _vision_cards() -> dict[str, TaskCard]:
    cards, _ = load_cards([builtin_tasks_dir()])  # other folders' problems are other tests' job
    return {name: card for name, card in sorted(cards.items()) if "vision" in card.tags}


VISION_CARDS = _vision_cards()
LOCAL_CANDIDATES = [
    pytest.param(name, i, id=f"{name}-{i}-{spec['format']}")
    for name, card in VISION_CARDS.items()
    if not card.resplit  # a resplit card needs more rows than a fixture has (tested on real data)
    for i, spec in enumerate(card.data.get("local", []))
]


def card(name: str) -> TaskCard:
    return VISION_CARDS[name]


# ---------------------------------------------------------------------------------------
# fixture writers, one per local format
# ---------------------------------------------------------------------------------------


def image_shape(card: TaskCard, fmt: str) -> tuple[int, ...]:
    """(H, W) for greyscale, (H, W, 3) for colour: what the card's data looks like."""
    if fmt == "idx" or (fmt not in ("cifar_pickle", "svhn_mat") and "mnist-family" in card.tags):
        return (28, 28)
    return (32, 32, 3)


def random_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: str) -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"fixture", label_key.encode(): labels.tolist(), b"data": data}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_svhn_mat(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    import scipy.io

    y = np.where(labels == 0, 10, labels).reshape(-1, 1).astype(np.uint8)
    scipy.io.savemat(path, {"X": images.transpose(1, 2, 3, 0), "y": y})


def write_parquet(
    path: Path, card: TaskCard, spec: dict, images: np.ndarray, labels: np.ndarray
) -> None:
    """The Hub's layout: an Image column of {bytes, path} and a ClassLabel column."""
    to_file = {v: k for k, v in ((spec.get("options") or {}).get("columns") or {}).items()}
    img_col = to_file.get(card.inputs["image"], card.inputs["image"])
    lab_col = to_file.get(card.label, card.label)
    features = datasets.Features(
        {img_col: datasets.Image(), lab_col: datasets.ClassLabel(names=list(card.label_names))}
    )
    column = [{"bytes": encode_png(x), "path": None} for x in images]
    datasets.Dataset.from_dict(
        {img_col: column, lab_col: labels.tolist()}, features=features
    ).to_parquet(str(path))


def write_imagefolder(
    root: Path, card: TaskCard, spec: dict, images: np.ndarray, labels: np.ndarray
) -> None:
    to_folder = {v: k for k, v in ((spec.get("options") or {}).get("class_map") or {}).items()}
    for i, (x, y) in enumerate(zip(images, labels)):
        name = card.label_names[y]
        folder = root / to_folder.get(name, name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.png").write_bytes(encode_png(x))


def write_fixture(card: TaskCard, spec: dict, data_dir: Path) -> dict[str, np.ndarray]:
    """Write ROWS rows per split in `spec`'s layout; return the labels written per split."""
    fmt, root = spec["format"], data_dir / spec["path"]
    root.mkdir(parents=True, exist_ok=True)
    shape = image_shape(card, fmt)
    written: dict[str, np.ndarray] = {}
    for s, (split, files) in enumerate(spec["files"].items()):
        files = [files] if isinstance(files, str) else list(files)
        # spread the rows over the split's files (CIFAR-10 has five training batches)
        per_file = 1 if fmt == "idx" else len(files)
        n = ROWS if fmt == "idx" else max(ROWS, per_file)
        images = random_images(n, shape, seed=s)
        labels = (np.arange(n) * 7 + s) % card.num_labels
        written[split] = labels
        if fmt == "idx":
            for f in files:
                is_labels = "idx1" in f or "labels" in f
                write_idx(root / f, labels if is_labels else images)
        elif fmt == "cifar_pickle":
            key = (spec.get("options") or {}).get("label_key", "labels")
            for f, chunk in zip(files, np.array_split(np.arange(n), len(files))):
                write_cifar_batch(root / f, images[chunk], labels[chunk], key)
        elif fmt == "svhn_mat":
            (f,) = files
            write_svhn_mat(root / f, images, labels)
        elif fmt == "parquet":
            (f,) = files
            write_parquet(root / f, card, spec, images, labels)
        elif fmt == "imagefolder":
            (f,) = files
            write_imagefolder(root / f, card, spec, images, labels)
            order = np.lexsort((np.arange(n), [card.label_names[y] for y in labels]))
            written[split] = labels[order]  # the reader walks class folders in name order
        else:
            pytest.fail(
                f"no fixture writer for format {fmt!r} (card {card.name}); add one to tests/test_vision.py"
            )
    return written


def check_images(ds: datasets.Dataset, column: str, shape: tuple[int, ...]) -> None:
    assert isinstance(ds.features[column], datasets.Image)
    mode = "L" if len(shape) == 2 else "RGB"
    for img in ds[column]:
        assert isinstance(img, Image.Image)
        assert img.size == (shape[1], shape[0])
        assert img.mode == mode


# ---------------------------------------------------------------------------------------
# registry-driven: every vision card, every local layout it lists
# ---------------------------------------------------------------------------------------


def test_vision_cards_are_valid_and_present() -> None:
    cards, problems = load_cards([builtin_tasks_dir() / "vision"])
    assert problems == []
    assert {"mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "digits"} <= set(VISION_CARDS)
    for c in cards.values():
        assert c.modality == "image" and "image" in c.tags and "vision" in c.tags
        assert c.splits["train"] and c.splits["test"]
        assert c.primary_metric == "accuracy" and c.direction == "max"


def test_label_names() -> None:
    assert card("cifar10").label_names[:3] == ("airplane", "automobile", "bird")
    assert card("cifar10").label_names[-1] == "truck"
    c100 = card("cifar100").label_names
    assert (
        len(c100) == 100
        and list(c100) == sorted(c100)
        and c100[:5] == ("apple", "aquarium_fish", "baby", "bear", "beaver")
    )
    assert (
        card("fashion_mnist").label_names[0] == "T-shirt/top"
        and card("fashion_mnist").label_names[9] == "Ankle boot"
    )
    assert card("svhn").label_names == tuple(str(d) for d in range(10))


@pytest.mark.parametrize("name,index", LOCAL_CANDIDATES)
def test_local_layout_loads(name: str, index: int, tmp_path: Path) -> None:
    c = card(name)
    spec = c.data["local"][index]
    written = write_fixture(c, spec, tmp_path)
    data = load_task(c, tmp_path, "local")
    assert data.source == "local"
    shape = image_shape(c, spec["format"])
    for role in ("train", "validation", "test"):
        ds = data.split(role)
        assert len(ds) > 0, role
        check_images(ds, c.inputs["image"], shape)
        assert all(0 <= y < c.num_labels for y in ds["labels"])

    def expected(values) -> list[int]:  # a label_map card keeps and renumbers its classes
        if c.label_map is None:
            return values.tolist()
        index = {n: i for i, n in enumerate(c.label_names)}
        return [index[c.label_map[str(v)]] for v in values.tolist() if str(v) in c.label_map]

    assert len(data.train) + len(data.validation) == len(expected(written[c.splits["train"]]))
    assert data.test["labels"] == expected(written[c.splits["test"]])


def test_digits_generator() -> None:
    c = card("digits")
    data = load_task(c, None, "generator")
    assert data.source == "generator"
    total = len(data.train) + len(data.validation) + len(data.test)
    assert total == 1797
    assert abs(len(data.test) - 0.25 * 1797) <= 1
    assert set(data.test["labels"]) == set(range(10))
    assert set(data.train["labels"]) | set(data.validation["labels"]) == set(range(10))
    check_images(data.test.select(range(5)), "image", (8, 8))
    pixels = np.stack([np.asarray(im) for im in data.test["image"]])
    assert pixels.dtype == np.uint8 and pixels.max() == 255 and pixels.min() == 0
    again = load_task(c, None, "generator", roles=("test",))
    assert again.test["labels"] == data.test["labels"]  # seeded


# ---------------------------------------------------------------------------------------
# readers: corrupt and inconsistent files
# ---------------------------------------------------------------------------------------


def test_idx_roundtrip_plain_and_gzip(tmp_path: Path) -> None:
    images = random_images(3, (28, 28), seed=1)
    for name in ("imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"):
        write_idx(tmp_path / name, images)
        np.testing.assert_array_equal(read_idx_array(tmp_path / name), images)


def test_idx_bad_magic(tmp_path: Path) -> None:
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*bad magic"):
        read_idx_array(bad)


def test_idx_truncated(tmp_path: Path) -> None:
    f = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(f, random_images(4, (28, 28), seed=2))
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*truncated"):
        read_idx_array(f)


def test_idx_corrupt_gzip(tmp_path: Path) -> None:
    f = tmp_path / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(b"\x1f\x8b" + b"not really gzip" * 4)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*gzip"):
        read_idx_array(f)


def test_idx_mismatched_counts(tmp_path: Path) -> None:
    imgs, labs = tmp_path / "images-idx3-ubyte", tmp_path / "labels-idx1-ubyte"
    write_idx(imgs, random_images(5, (28, 28), seed=3))
    write_idx(labs, np.arange(4, dtype=np.uint8))
    with pytest.raises(
        DataError, match="images-idx3-ubyte has 5 images but .*labels-idx1-ubyte has 4"
    ):
        FORMATS.get("idx")([imgs, labs], {}, card("mnist"))


def test_cifar_pickle_corrupt(tmp_path: Path) -> None:
    f = tmp_path / "data_batch_1"
    f.write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match="data_batch_1"):
        FORMATS.get("cifar_pickle")([f], {}, card("cifar10"))


def test_cifar_pickle_wrong_contents(tmp_path: Path) -> None:
    f = tmp_path / "test_batch"
    f.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match="test_batch.*N×3072"):
        FORMATS.get("cifar_pickle")([f], {}, card("cifar10"))
    write_cifar_batch(f, random_images(2, (32, 32, 3), seed=4), np.array([0, 1]), "labels")
    with pytest.raises(DataError, match="test_batch.*fine_labels"):
        FORMATS.get("cifar_pickle")(
            [f], {"options": {"label_key": "fine_labels"}}, card("cifar100")
        )


def test_svhn_mat_corrupt_and_labels(tmp_path: Path) -> None:
    f = tmp_path / "test_32x32.mat"
    f.write_bytes(b"MATLAB? no" * 20)
    with pytest.raises(DataError, match="test_32x32.mat"):
        FORMATS.get("svhn_mat")([f], {}, card("svhn"))
    write_svhn_mat(f, random_images(3, (32, 32, 3), seed=5), np.array([0, 1, 9]))
    ds = FORMATS.get("svhn_mat")([f], {}, card("svhn"))
    assert ds["label"] == [0, 1, 9]  # 10 in the .mat file means the digit 0


def test_imagefolder_unknown_class(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "cat" / "a.png").write_bytes(
        encode_png(random_images(1, (32, 32, 3), 6)[0])
    )
    (tmp_path / "train" / "unicorn").mkdir()
    with pytest.raises(DataError, match=r"unicorn.*not a class of task 'cifar10'"):
        FORMATS.get("imagefolder")([tmp_path / "train"], {}, card("cifar10"))


def test_imagefolder_corrupt_image_and_class_map(tmp_path: Path) -> None:
    folder = tmp_path / "train" / "tshirt"
    folder.mkdir(parents=True)
    (folder / "ok.png").write_bytes(encode_png(random_images(1, (28, 28), 7)[0]))
    spec = {"options": {"class_map": {"tshirt": "T-shirt/top"}}}
    ds = FORMATS.get("imagefolder")([tmp_path / "train"], spec, card("fashion_mnist"))
    assert ds["label"] == [0] and ds[0]["image"].size == (28, 28)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="broken.png"):
        FORMATS.get("imagefolder")([tmp_path / "train"], spec, card("fashion_mnist"))


def test_image_parquet_without_hub_metadata(tmp_path: Path) -> None:
    """A parquet written by pandas/pyarrow stores images as plain {bytes, path} structs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = random_images(4, (32, 32, 3), seed=8)
    table = pa.table(
        {
            "img": [{"bytes": encode_png(x), "path": None} for x in images],
            "label": [3, 1, 4, 1],
        }
    )
    f = tmp_path / "test.parquet"
    pq.write_table(table, f)
    ds = read_parquet([f], {}, card("cifar10"))
    assert isinstance(ds.features["img"], datasets.Image)
    np.testing.assert_array_equal(np.asarray(ds[0]["img"]), images[0])
    bad = tmp_path / "train.parquet"
    bad.write_bytes(b"PAR1 but not really")
    with pytest.raises(DataError, match="train.parquet"):
        read_parquet([bad], {}, card("cifar10"))


def test_encode_png_decodes_back() -> None:
    x = random_images(1, (32, 32, 3), seed=9)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(x)))), x)


# ---------------------------------------------------------------------------------------
# readers: pixel layout, against files written by hand from each format's documentation
# ---------------------------------------------------------------------------------------
# Image n of every layout fixture has pixel (row y, column x) = (R, G, B) with R = 8x, G = 8y,
# B = 10 + x + 2y + 60n: a transpose, a flip, a channel swap or a shuffle of the images each
# changes the values read back. The writers below follow the formats' own descriptions, not the
# readers' reshapes (the fixture writers above mirror the readers, so they cannot catch them).

LAYOUT_IMAGES = 3


def pattern_pixel(n: int, y: int, x: int) -> tuple[int, int, int]:
    return 8 * x, 8 * y, 10 + x + 2 * y + 60 * n


def pattern_image(n: int) -> np.ndarray:
    """The expected 32×32×3 (H, W, C) array of image n."""
    y, x = np.mgrid[0:32, 0:32]
    return np.stack([8 * x, 8 * y, 10 + x + 2 * y + 60 * n], axis=-1).astype(np.uint8)


def cifar_row(pixels) -> bytes:
    """One CIFAR row as documented: 3072 bytes, the 1024 red values of the 32×32 image in
    row-major order, then the 1024 green, then the 1024 blue. `pixels(y, x)` gives (R, G, B)."""
    row = bytearray(3072)
    for i in range(3072):
        channel, rest = divmod(i, 1024)
        y, x = divmod(rest, 32)
        row[i] = pixels(y, x)[channel]
    return bytes(row)


def check_pattern(ds: datasets.Dataset, column: str) -> None:
    assert len(ds) == LAYOUT_IMAGES
    for n in range(LAYOUT_IMAGES):
        img = ds[n][column]
        assert img.mode == "RGB" and img.size == (32, 32)
        np.testing.assert_array_equal(np.asarray(img), pattern_image(n), err_msg=f"image {n}")
    first, last = ds[0][column], ds[LAYOUT_IMAGES - 1][column]
    # corners, read with PIL's own (x, y) addressing: top-left, top-right, bottom-left, ...
    assert first.getpixel((0, 0)) == (0, 0, 10)
    assert first.getpixel((31, 0)) == (248, 0, 41)
    assert first.getpixel((0, 31)) == (0, 248, 72)
    assert first.getpixel((31, 31)) == (248, 248, 103)
    assert first.getpixel((5, 2)) == (40, 16, 19)
    assert last.getpixel((31, 31)) == (248, 248, 223)
    assert ds[1][column].getpixel((2, 5)) == (16, 40, 82)


@pytest.mark.parametrize(
    "name,folder,file,label_keys",
    [
        ("cifar10", "cifar-10-batches-py", "test_batch", {b"labels": [3, 7, 0]}),
        (  # CIFAR-100 files carry both; the card's label is the fine one
            "cifar100",
            "cifar-100-python",
            "test",
            {b"fine_labels": [3, 7, 0], b"coarse_labels": [11, 12, 13]},
        ),
    ],
)
def test_cifar_pickle_pixel_layout(
    name: str, folder: str, file: str, label_keys: dict, tmp_path: Path
) -> None:
    rows = [cifar_row(lambda y, x, n=n: pattern_pixel(n, y, x)) for n in range(LAYOUT_IMAGES)]
    data = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(LAYOUT_IMAGES, 3072)
    assert data[0, 31] == 248 and data[0, 1024 + 32] == 8 and data[2, 2048] == 130  # as documented
    (tmp_path / folder).mkdir()
    batch = {b"batch_label": b"testing batch 1 of 1", b"data": data, **label_keys}
    (tmp_path / folder / file).write_bytes(pickle.dumps(batch, protocol=2))
    c = card(name)
    ds, source, _ = load_raw_split(c, "test", tmp_path, "local")
    assert source == "local"
    assert ds[c.label] == [3, 7, 0]
    check_pattern(ds, c.inputs["image"])


def test_svhn_mat_pixel_layout(tmp_path: Path) -> None:
    """`X` is H×W×C×N (X[y, x, c, n] in numpy, X(y+1, x+1, c+1, n+1) in MATLAB); `y` is N×1
    with 10 for the digit 0."""
    import scipy.io

    x_array = np.zeros((32, 32, 3, LAYOUT_IMAGES), dtype=np.uint8)
    for n in range(LAYOUT_IMAGES):
        for yy in range(32):
            for xx in range(32):
                x_array[yy, xx, :, n] = pattern_pixel(n, yy, xx)
    (tmp_path / "svhn").mkdir()
    labels = np.array([[10], [3], [7]], dtype=np.uint8)
    scipy.io.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": x_array, "y": labels})
    c = card("svhn")
    ds, source, _ = load_raw_split(c, "test", tmp_path, "local")
    assert source == "local"
    assert ds[c.label] == [0, 3, 7]
    check_pattern(ds, c.inputs["image"])


# ---------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------


def real_data_dir(*needed: str) -> Path:
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        pytest.skip(f"${DATA_DIR_ENV} is not set")
    root = Path(value)
    missing = [n for n in needed if not (root / n).exists()]
    if missing:
        pytest.skip(f"real data missing under {root}: {missing}")
    return root


@pytest.mark.realdata
def test_real_cifar10_parquet() -> None:
    root = real_data_dir("vision/cifar10/test.parquet", "vision/cifar10/train.parquet")
    c = card("cifar10")
    test, source, _ = load_raw_split(c, "test", root, "local")
    assert source == "local" and len(test) == 10_000
    assert isinstance(test.features["img"], datasets.Image)
    assert sorted(set(test["label"])) == list(range(10))
    assert test[0]["img"].size == (32, 32) and test[0]["img"].mode == "RGB"
    data = load_task(c, root, "local")
    assert len(data.train) + len(data.validation) == 50_000
    assert len(data.validation) == 5_000 and len(data.test) == 10_000


@pytest.mark.realdata
def test_real_mnist_idx_test_split() -> None:
    root = real_data_dir(
        "vision/mnist/t10k-images-idx3-ubyte.gz", "vision/mnist/t10k-labels-idx1-ubyte.gz"
    )
    c = card("mnist")
    test, source, _ = load_raw_split(c, "test", root, "local")
    assert source == "local" and len(test) == 10_000
    assert sorted(set(test["label"])) == list(range(10))
    first = test[0]["image"]
    assert first.size == (28, 28) and first.mode == "L"
    assert test[0]["label"] == 7  # the first MNIST test digit is a 7


@pytest.mark.realdata
def test_real_cifar10_pixels(tmp_path: Path) -> None:
    """The reader's images against the parquet's own bytes decoded here; then a real image
    through the pickle reader, packed by hand in CIFAR's documented layout. (This copy is sorted
    by label, so its first test image is an airplane, not the original test_batch's cat.)"""
    import pyarrow.parquet as pq

    root = real_data_dir("vision/cifar10/test.parquet")
    c = card("cifar10")
    test, _, _ = load_raw_split(c, "test", root, "local")
    raw = pq.read_table(root / "vision/cifar10/test.parquet")
    assert len(test) == len(raw) == 10_000
    for i in (0, 4321, 9999):
        row = raw.slice(i, 1).to_pylist()[0]
        expected = np.asarray(Image.open(io.BytesIO(row["img"]["bytes"])).convert("RGB"))
        assert test[i]["label"] == row["label"]
        np.testing.assert_array_equal(np.asarray(test[i]["img"]), expected, err_msg=f"row {i}")

    real = np.asarray(test[4321]["img"])
    (tmp_path / "cifar-10-batches-py").mkdir()
    data = np.frombuffer(cifar_row(lambda y, x: real[y, x]), dtype=np.uint8).reshape(1, 3072)
    batch = {b"data": data, b"labels": [test[4321]["label"]]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    again, _, _ = load_raw_split(c, "test", tmp_path, "local")
    np.testing.assert_array_equal(np.asarray(again[0]["img"]), real)
    assert again["label"] == [test[4321]["label"]]


@pytest.mark.realdata
def test_real_cifar10_class_split_cards() -> None:
    """The two halves of CIFAR-10 (vehicles, animals): only their classes kept, relabelled in
    their own order, every other row dropped and counted."""
    root = real_data_dir("vision/cifar10/test.parquet", "vision/cifar10/train.parquet")
    for name, names, originals in (
        ("cifar10_vehicles", ["airplane", "automobile", "ship", "truck"], [0, 1, 8, 9]),
        ("cifar10_animals", ["bird", "cat", "deer", "dog", "frog", "horse"], [2, 3, 4, 5, 6, 7]),
    ):
        c = card(name)
        assert list(c.label_names) == names
        data = load_task(c, root, "local")
        assert len(data.test) == 1000 * len(names)
        assert len(data.train) + len(data.validation) == 5000 * len(names)
        assert sorted(set(data.test["labels"])) == list(range(len(names)))
        full = load_task(card("cifar10"), root, "local")
        # the same image in both: the first test image of each kept class, relabelled
        for pos, orig in enumerate(originals[:2]):
            first_split = data.test["labels"].index(pos)
            first_full = full.test["labels"].index(orig)
            a = np.asarray(data.test[first_split]["img"])
            b = np.asarray(full.test[first_full]["img"])
            assert np.array_equal(a, b)


@pytest.mark.realdata
def test_real_mnist_test_set_resplit() -> None:
    """The 10,000 MNIST test images cut 70 / 10 / 20, stratified and seeded."""
    root = real_data_dir(
        "vision/mnist/t10k-images-idx3-ubyte.gz", "vision/mnist/t10k-labels-idx1-ubyte.gz"
    )
    data = load_task(card("mnist_test_resplit"), root, "local")
    sizes = (len(data.train), len(data.validation), len(data.test))
    assert sum(sizes) == 10_000  # rounded per class: within 10 rows of 7000 / 1000 / 2000
    assert all(abs(a - b) <= 10 for a, b in zip(sizes, (7000, 1000, 2000), strict=True)), sizes
    assert sorted(set(data.test["labels"])) == list(range(10))
    again = load_task(card("mnist_test_resplit"), root, "local", roles=("test",))
    assert again.test["labels"] == data.test["labels"]
