"""The straightforward loop: a GAN trained the way tutorials write it, the yardstick for speed.

It follows PyTorch-GAN's `dcgan.py` (which the FLGAN authors started from) line by line:

  * a torchvision-style Dataset that hands out one PIL image at a time, transformed per sample
    by Compose([Resize(S), ToTensor(), Normalize([0.5], [0.5])]), batched by a DataLoader
    (batch 64, shuffle, no worker processes: the tutorial default);
  * D ends in nn.Sigmoid and the loss is nn.BCELoss on probabilities (focal: the same BCE
    weighted by (1 - p_t)^gamma, with clip_grad_norm_ 0.25 as the FLGAN code);
  * (1) G step on a fresh batch of fakes, (2) D step on real and on the same fakes detached;
  * `.item()` on both losses every step, as the progress print does.

The networks are gan_core's own (same layers, same initial weights for a seed), run as plain
nn.Sequential stacks, so what differs from gan_core's Trainer is how they are run and fed.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn


class PILDigits(torch.utils.data.Dataset):
    """Like torchvision.datasets.MNIST: uint8 arrays in memory, one PIL image per __getitem__."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable):
        self.images, self.labels, self.transform = images, labels, transform   # (N, 28, 28)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image
        img = Image.fromarray(self.images[i], mode="L")
        return self.transform(img), int(self.labels[i])


def tutorial_loader(images: np.ndarray, labels: np.ndarray, size: int, batch_size: int = 64,
                    seed: int = 0) -> torch.utils.data.DataLoader:
    import torchvision.transforms as T
    transform = T.Compose([T.Resize(size), T.ToTensor(), T.Normalize([0.5], [0.5])])
    return torch.utils.data.DataLoader(PILDigits(images, labels, transform),
                                       batch_size=batch_size, shuffle=True, drop_last=True,
                                       generator=torch.Generator().manual_seed(seed))


class FocalBCELoss(nn.Module):
    """Focal loss written on probabilities, as tutorials do: BCE * (1 - p_t)^gamma."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy(p, target, reduction="none")
        p_t = torch.exp(-bce)
        return ((1 - p_t) ** self.gamma * bce).mean()


def plain_models(model: str, seed: int = 0, latent_dim: int = 100):
    """gan_core's G and D for `model`, G as a plain Sequential and D ending in a Sigmoid."""
    from gan_core.models import DEFAULT_DROPOUT, ModelSpec, build_models
    torch.manual_seed(seed)
    G, D = build_models(ModelSpec(model=model, latent_dim=latent_dim,
                                  dropout=DEFAULT_DROPOUT[model]))
    generator = nn.Sequential(*G.body)                                   # z (B, latent) -> x
    discriminator = nn.Sequential(*D.features, D.head, nn.Flatten(0), nn.Sigmoid())  # -> (B,)
    return generator, discriminator


def train(images: np.ndarray, labels: np.ndarray, model: str = "paper", loss: str = "bce",
          steps: int = 50, warmup: int = 5, seed: int = 0, size: Optional[int] = None,
          latent_dim: int = 100) -> dict:
    """Run `warmup + steps` tutorial steps; images/s over the last `steps` (data loading in)."""
    from gan_core.models import IMAGE_SIZE
    size = size or IMAGE_SIZE[model]
    generator, discriminator = plain_models(model, seed, latent_dim)
    adversarial_loss = nn.BCELoss() if loss == "bce" else FocalBCELoss(2.0)
    clip = None if loss == "bce" else 0.25
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    dataloader = tutorial_loader(images, labels, size, 64, seed)

    done, t_start, losses = 0, None, []
    while done < warmup + steps:
        for imgs, _ in dataloader:
            if done == warmup:
                t_start = time.perf_counter()
            if done == warmup + steps:
                break
            valid = torch.ones(imgs.shape[0])
            fake = torch.zeros(imgs.shape[0])
            real_imgs = imgs.float()

            # (1) Train the generator: maximise log D(G(z))
            optimizer_G.zero_grad()
            z = torch.randn(imgs.shape[0], latent_dim)
            gen_imgs = generator(z)
            g_loss = adversarial_loss(discriminator(gen_imgs), valid)
            g_loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(generator.parameters(), clip)
            optimizer_G.step()

            # (2) Train the discriminator: tell real from generated
            optimizer_D.zero_grad()
            real_loss = adversarial_loss(discriminator(real_imgs), valid)
            fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
            d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(discriminator.parameters(), clip)
            optimizer_D.step()

            losses.append((d_loss.item(), g_loss.item()))     # the per-step progress print
            done += 1
    seconds = time.perf_counter() - t_start
    return dict(images_per_s=steps * 64 / seconds, seconds=seconds, steps=steps,
                last_losses=losses[-1])
