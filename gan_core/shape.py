"""What a config makes of a dataset: the data it trains on, the model spec, the steps."""
from __future__ import annotations

from . import clusters, kept
from .config import TrainConfig
from .data import Dataset
from .models import ARCHITECTURES, ModelSpec


def spec_for(config: TrainConfig, dataset: Dataset) -> ModelSpec:
    if config.conditional and dataset.labels is None:
        raise ValueError(f"conditional needs a labelled dataset; {dataset.name} has no labels "
                         f"(use a folder with one subfolder per class)")
    return ModelSpec(
        model=config.model, latent_dim=config.latent_dim,
        channels=1 if dataset.is_points else dataset.data.shape[1], depth=config.depth,
        batch_norm=config.batch_norm, batch_norm_d=config.batch_norm_d,
        dropout=(ARCHITECTURES[config.model].default_dropout if config.dropout is None
                 else config.dropout),
        self_attention=config.self_attention, spectral_norm_g=config.spectral_norm_g,
        spectral_norm_d=config.spectral_norm_d,
        num_classes=dataset.num_classes if config.conditional else 0,
        clusters=0 if dataset.is_points or config.conditional else clusters.clusters_for(
            config.clusters, len(dataset), config.latent_dim))


def check_trainable(config: TrainConfig, dataset: Dataset) -> ModelSpec:
    """The model spec for this config and data; ValueError when they cannot train together."""
    if len(dataset) < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} is larger than the dataset "
                         f"({len(dataset)} samples); choose at most {len(dataset)}")
    return spec_for(config, dataset)


def steps_per_epoch(n_samples: int, config: TrainConfig) -> int:
    return max(n_samples // config.batch_size, 1)


def total_steps(n_samples: int, config: TrainConfig) -> int:
    total = steps_per_epoch(n_samples, config) * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def points_extent(dataset: Dataset) -> float:
    """Half-width of the square that shows a 2-D set with a margin."""
    return float(dataset.data.abs().max()) * 1.25 + 0.5


def load_for(config: TrainConfig, part: str = "train") -> Dataset:
    """The dataset a config asks for, shaped for its model: by default the part GANs train on
    (never the held-out reference: gan_core.data, Parts), and its subset when the config has
    one. Loaded once per files and settings, then kept (gan_core.kept)."""
    return kept.dataset(config.dataset, config.data_dir,
                        image_size=ARCHITECTURES[config.model].image_size or 28,
                        channels=config.channels, subset=config.subset, download=config.download,
                        seed=config.seed, part=part)
