"""Step by step on images: the difference picture's colours and the numbered verdict tiles."""
import numpy as np
import torch

from gan_core.image_stepper import difference
from lab_app.step_pictures import difference_tiles, numbered_tiles, shared_scale, verdict_tiles
from lab_app.views import verdict_colour


def test_difference_is_red_where_ink_was_added_blue_where_removed_white_elsewhere():
    before = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    after = before.clone()
    after[0, 0, 0, 0] = 255               # ink added (MNIST: white ink on black)
    before[0, 0, 3, 3] = 200              # ink removed
    delta, largest = difference(before, after)
    assert largest == 255 and delta[0, 0, 0] > 0 > delta[0, 3, 3] and delta[0, 1, 1] == 0
    px = np.asarray(difference_tiles(delta, scale=1, gap=0, border=0))
    assert px.shape == (4, 4, 3)
    assert tuple(px[0, 0]) == (214, 39, 40)                  # full red: the largest change
    r, g, b = px[3, 3].astype(int)
    assert b > r + 100 and b > 150                          # blue
    assert tuple(px[1, 1]) == (255, 255, 255)                # unchanged: white


def test_verdict_tiles_frame_each_sample_in_ds_colour():
    images = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    d = torch.tensor([0.05, 0.95])
    img = np.asarray(verdict_tiles(images, d, "probability", shared_scale([d], "probability")))
    assert tuple(img[3, 3]) == verdict_colour(0.05)          # first tile's frame: red
    assert tuple(img[3, 3 + 32 + 3]) == verdict_colour(0.95)  # second tile's frame: green
    big = numbered_tiles(torch.zeros(16, 3, 64, 64, dtype=torch.uint8), ["1"] * 16,
                         max_side=32)
    assert big.width == 8 * (32 + 4 + 3) + 3                 # 64x64 shrunk to 32 per tile


def test_raw_scores_share_one_colour_scale():
    before, after = torch.tensor([-2.0, 0.0]), torch.tensor([0.0, 2.0])
    scale = shared_scale([before, after], "score")
    assert scale(before).tolist() == [0.0, 0.5] and scale(after).tolist() == [0.5, 1.0]
