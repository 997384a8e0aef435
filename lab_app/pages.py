"""The lab's pages, listed once: app.py's navigation, Home's "What each page is for" and the page
tests' navigation all read PAGES. Plain data, no Streamlit, so a test can read it without a page.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class PageInfo:
    file: str       # the page script, relative to the repository root
    title: str      # in the navigation and on Home's link
    icon: str       # a Material icon as Streamlit writes it
    blurb: str      # what the page is for, one line on Home ("" for Home itself)

    @property
    def name(self) -> str:
        """The script's name without .py: Streamlit's URL path for it (/train, /compare)."""
        return PurePosixPath(self.file).stem


PAGES = (     # in the navigation's order; the first is the default page
    PageInfo("app_pages/home.py", "Home", ":material/home:", ""),
    PageInfo("app_pages/train.py", "Train", ":material/model_training:",
             "Train one GAN live: pick a dataset, a loss and the G:D step ratio, and watch the "
             "losses, D's beliefs and the samples as it learns."),
    PageInfo("app_pages/compare.py", "Compare", ":material/compare:",
             "Train two set-ups side by side on the same seed and batches, e.g. focal loss "
             "against the DCGAN loss."),
    PageInfo("app_pages/explore.py", "Latent explorer", ":material/explore:",
             "Take a trained generator and move through its noise space z: what does each "
             "direction draw, and what lies between two images?"),
    PageInfo("app_pages/loss_lab.py", "Loss lab", ":material/functions:",
             "Every loss in the lab with its formulas, and plots of why some give the generator "
             "a gradient when it needs one and some do not."),
    PageInfo("app_pages/dirac.py", "Dirac-GAN", ":material/cyclone:",
             "The smallest GAN drawn as a plane: why plain training circles round the answer, "
             "and which fixes (R1, instance noise) make it spiral in."),
    PageInfo("app_pages/experiments.py", "Experiments", ":material/science:",
             "Each paper's claim tested over several seeds: does focal loss really halve the "
             "time? Does a latent of 1 collapse? The numbers and a verdict, and a small rerun "
             "here."),
    PageInfo("app_pages/class.py", "Class (teacher)", ":material/groups:",
             "For the teacher, with the teacher key: every run in the class live, two side by "
             "side for the projector, a lesson sent to everyone, the results as one zip."),
)
HOME = PAGES[0]


def page(name: str) -> PageInfo:
    """The page whose script is app_pages/NAME.py."""
    for p in PAGES:
        if p.name == name:
            return p
    raise KeyError(f"no page {name!r}; the pages are {', '.join(p.name for p in PAGES)}")
