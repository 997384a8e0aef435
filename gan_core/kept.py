"""What a run's start computes from its data, computed once and kept (gan_core.cache): the
loaded, shaped dataset part, its k-means clusters (cluster conditioning) and the judge's
reference statistics. Before, each run paid for them after Start was clicked: on 2 busy
cores about 3-6 s of k-means and 2 s of reference statistics.

    dataset(name, data_dir, image_size=..., ...)   load_dataset, kept per the files it reads
    clusters(data, k, seed)                        (centroids, shares), kept per content
    reference_stats(judge, dataset, size, ref, train)   metrics.reference_stats, kept

A kept value is the same bits as a computed one, so a run trains exactly as it would have
(tests/test_kept.py checks the weights).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import torch

from . import cache, clusters as kmeans, data as data_module, datasets, fidelity, metrics
from .data import Dataset, default_data_dir
from .images import from_uint8


def dataset(name: str, data_dir=None, *, image_size: int = 28, channels: Optional[int] = None,
            subset: Optional[int] = None, download: bool = True, seed: int = 0,
            part: str = "train") -> Dataset:
    """datasets.load_dataset, kept per the files a named image set reads (their
    cache.file_fingerprint) and the settings; the 2-D sets, folders and sets whose files are
    not here (yet) are loaded as before. The images are shared between callers, read-only."""
    info = datasets.DATASETS.get(name) if isinstance(name, str) else None
    folder = Path(data_dir) if data_dir else default_data_dir()

    def load() -> Dataset:
        return datasets.load_dataset(name, data_dir, image_size=image_size, channels=channels,
                                     subset=subset, download=download, seed=seed, part=part)
    files = info.sources(name, folder) if info is not None and info.sources else []
    if not files:
        return load()

    def compute() -> dict:
        ds = load()
        value = {"name": ds.name, "data": ds.data, "class_names": list(ds.class_names),
                 "note": ds.note}
        if ds.labels is not None:
            value["labels"] = ds.labels
        return value

    def fits(v: dict) -> bool:
        x, labels, names = v.get("data"), v.get("labels"), v.get("class_names")
        shape = (None, channels or info.channels, image_size, image_size)
        if not (cache.is_tensor(x, torch.uint8, shape) and len(x) > 0 and v.get("name") == name
                and type(v.get("note")) is str and type(names) is list
                and all(type(n) is str for n in names)):
            return False
        return labels is None or (cache.is_tensor(labels, torch.int64, (len(x),))
                                  and int(labels.min()) >= 0 and int(labels.max()) < len(names))

    parts = (name, part, image_size, channels, subset, seed if subset else None,
             [cache.file_fingerprint(f) for f in files])
    v = cache.remember("dataset", parts, compute, fits, copy=False,
                       code=(data_module.__file__, datasets.__file__))
    return Dataset(v["name"], v["data"], v.get("labels"), list(v["class_names"]), v["note"])


def clusters(data: torch.Tensor, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(centroids (k, C*H*W), shares (k,)) of training images `data` (uint8, or floats in
    [-1, 1]): clusters.kmeans and each cluster's share of the images, kept per the images'
    content, k and seed."""
    def compute() -> dict:
        x = from_uint8(data) if data.dtype == torch.uint8 else data.float()
        centroids = kmeans.kmeans(x, k, seed=seed)
        return {"centroids": centroids, "shares": kmeans.shares(kmeans.nearest(x, centroids), k)}

    def fits(v: dict) -> bool:
        return (cache.is_tensor(v.get("centroids"), torch.float32, (k, data[0].numel()))
                and cache.is_tensor(v.get("shares"), torch.float32, (k,))
                and bool((v["shares"] >= 0).all()) and abs(float(v["shares"].sum()) - 1) < 1e-3)

    v = cache.remember("clusters", (cache.digest(data), k, seed, kmeans.FIT_ON,
                                    kmeans.ITERATIONS), compute, fits, code=(kmeans.__file__,))
    return v["centroids"], v["shares"]


def reference_stats(judge: metrics.Judge, dataset_name: str, image_size: int,
                    reference: Dataset, train: Optional[Dataset]) -> metrics.RealStats:
    """metrics.reference_stats of these images (train None: the reference is its own), with
    the reference's nearest-neighbour radii and held-out memorisation distance filled in,
    kept per judge (its weights), images, size and code version."""
    parts = (dataset_name, [cache.digest(w) for w in judge.state_dict().values()],
             image_size, cache.digest(reference.data),
             cache.digest(None if train is None else train.data))

    def compute() -> dict:
        stats = metrics.reference_stats(judge, dataset_name, image_size, reference,
                                        train_data=train)
        value = {"features": stats.features, "radii": fidelity.knn_radii(stats.features),
                 "heldout_distance": float(metrics.heldout_distance(stats))}
        if stats.train_features is not None:
            value["train_features"] = stats.train_features
        return value

    def fits(v: dict) -> bool:
        f, t = v.get("features"), v.get("train_features")
        if not (cache.is_tensor(f, torch.float32, (None, None)) and len(f) > 1
                and cache.is_tensor(v.get("radii"), torch.float32, (len(f),))
                and type(v.get("heldout_distance")) is float
                and math.isfinite(v["heldout_distance"])):
            return False
        return t is None if train is None else (
            cache.is_tensor(t, torch.float32, (None, f.shape[1])) and len(t) > 0)

    v = cache.remember("reference", parts, compute, fits,
                       code=(metrics.__file__, fidelity.__file__))
    return metrics.RealStats(v["features"], v.get("train_features"), v["radii"],
                             v["heldout_distance"])
