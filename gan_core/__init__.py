"""gan_core: datasets, models, losses, a trainer, checkpoints, metrics and experiments for
teaching GANs.

No user interface lives here: the Streamlit pages and the command line both call this package.
"""
from .config import PRESETS, TrainConfig, preset
from .devices import available_devices, resolve_device
from .data import Dataset, DatasetError
from .datasets import load_dataset
from .losses import LOSSES, get_loss
from .models import ModelSpec, build_models
from .trainer import Trainer

__all__ = ["TrainConfig", "PRESETS", "preset", "available_devices", "resolve_device", "Dataset",
           "DatasetError", "load_dataset", "LOSSES", "get_loss", "ModelSpec", "build_models",
           "Trainer"]
