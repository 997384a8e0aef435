"""Home: what a GAN is, the GAN loop as a picture, what each page is for, one-click lessons."""

import streamlit as st

from gan_core.checkpoint import load_checkpoint
from gan_core.datasets import toy_modes
from gan_core.images import grid_image, points_image
from gan_core.sampling import sample
from lab_app.lessons import LESSONS
from lab_app.pages import HOME, PAGES
from lab_app.pretrained import model_path, picture_caption
from lab_app.ui import lesson_card

HOME_PRESETS = ("flgan-vs-dcgan", "mode-collapse", "g-advantage", "saturating")
FAILURE_LESSONS = ("toy-collapse", "non-convergence", "d-domination", "g-domination")
INSIDE_LESSONS = ("fold-the-plane", "one-step", "one-step-digits",    # GAN Lab's views
                  "what-d-sees", "why-circle")                       # + the Dirac-GAN plane
LESSON_GROUPS = (("The papers' questions", HOME_PRESETS),
                 ("When training goes wrong", FAILURE_LESSONS),
                 ("Inside the game", INSIDE_LESSONS))

# The GAN loop: solid arrows carry images forward, dashed arrows carry gradients back.
GAN_LOOP = """
digraph gan {
  rankdir=TB; bgcolor="transparent"; nodesep=0.5; ranksep=0.35;
  node [fontname="Helvetica", fontsize=14, style="filled,rounded", shape=box, penwidth=1.2,
        color="#555555", margin="0.2,0.1"];
  edge [fontname="Helvetica", fontsize=12, color="#444444", penwidth=1.4];

  z    [label="noise z  (random numbers)", shape=ellipse, fillcolor="#eeeeee"];
  G    [label="Generator G", fillcolor="#f6c6b5", fontsize=16];
  fake [label="fake image G(z)", shape=note, fillcolor="#fde6dc"];
  real [label="real image x\\n(training data)", shape=note, fillcolor="#d6e9f3"];
  D    [label="Discriminator D", fillcolor="#b9d9ea", fontsize=16];
  out  [label="D(image) = probability \\"this is real\\"", shape=ellipse,
        fillcolor="#e8f3da"];

  z -> G -> fake -> D;
  real -> D;
  D -> out;
  {rank=same; z; real;}

  out -> G [style=dashed, color="#e4572e", fontcolor="#e4572e", constraint=false,
            label="  gradient through D:\\l  G learns to fool D\\l"];
  out -> D [style=dashed, color="#2e86ab", fontcolor="#2e86ab", constraint=false,
            label="gradient: D learns\\lto tell them apart\\l"];
}
"""

st.title("GAN teaching lab")

text, picture = st.columns([5, 6], gap="large")
with text:
    st.markdown(
        "A **generator** G turns a vector of random noise z into an image; it never sees a "
        "real image, only what the discriminator thinks of its fakes.  \n"
        "A **discriminator** D looks at an image, real from the training set or fake from G, "
        "and outputs the probability that it is real.  \n"
        "The two play a **minimax game**: D tries to call real images real and fakes fake, "
        "while G tries to make D call its fakes real.  \n"
        "Training **alternates**: one step of D on a batch of real and fake images, then one "
        "step of G through D's verdict, over and over.  \n"
        "It can **go wrong**: G may draw only a few kinds of image (mode collapse), one "
        "player may overpower the other, or the pair may circle without ever settling.")
with picture:
    st.graphviz_chart(GAN_LOOP, width="stretch")
    st.caption("Solid arrows: images going forward. Dashed arrows: gradients going back. "
               "D learns from both kinds of image; G learns only through D.")

st.latex(r"\min_G \max_D V(D,G) = \mathbb{E}_{x}\big[\log D(x)\big] + "
         r"\mathbb{E}_{z}\big[\log(1 - D(G(z)))\big]")
st.caption("The minimax game. D maximises V by calling real images real (log D(x) near 0) and "
           "fakes fake (log(1 − D(G(z))) near 0); G minimises the same V by pushing D(G(z)) up.")



@st.cache_resource(show_spinner=False)
def shipped_samples():
    """Pictures from the shipped generators, made once for everybody (no training, no network)."""
    shown = []
    # Each caption names the recipe that made the picture, from the model's card: clusters and
    # an EMA of G do much of what a loss could be credited with.
    for name in ("mnist_best_flgan", "mnist_classroom_dcgan_e1", "ring_nonsaturating",
                 "ring_collapsed"):
        path, caption = model_path(name), picture_caption(name)
        if path is None or caption is None:
            continue
        G = load_checkpoint(path, with_discriminator=False).G
        if G.spec.model == "mlp":
            img = points_image(sample(G, 600, seed=0), toy_modes("ring"), size=300, extent=3)
        else:
            img = grid_image(sample(G, 36, seed=0), nrow=6, scale=2)
        shown.append((img, caption))
    return shown


pictures = shipped_samples()
if pictures:
    st.header("Drawn by the models that come with the lab")
    for col, (img, caption) in zip(st.columns(len(pictures)), pictures):
        col.image(img, caption=caption, width="stretch")
    st.caption("Trained in advance (pretrained/README.md says on what and for how long). The "
               "Fast classroom recipe conditions G and D on 50 clusters of look-alike digits and "
               "shows samples from an average of G's weights, for either loss; the Train and "
               "Compare pages let you switch it to the plain DCGAN of the papers. Open the "
               "models in the Latent explorer, or compare FLGAN with DCGAN on the Compare page "
               "without waiting.")

st.header("One-click lessons")
st.caption("Each button opens a page already set up to show one thing; the settings are in "
           "the URL, so you can share the link with the class.")
for group, keys in LESSON_GROUPS:
    st.subheader(group)
    for column, key in zip(st.columns(len(keys)), keys):
        with column:
            lesson_card(LESSONS[key], f"home_preset_{key}")
st.caption("*Measured*: the lesson benchmark (`python -m benchmarks.lessons`) trains every lesson "
           "as its button opens it, on 5 seeds, and counts the runs in which the effect showed "
           "within the lesson's own length (README, Lessons).")

st.header("What each page is for")
for p in PAGES:
    if p is HOME:
        continue
    link, line = st.columns([1, 5], vertical_alignment="center")
    link.page_link(p.file, label=p.title, icon=p.icon)
    line.markdown(p.blurb)
