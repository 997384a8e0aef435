"""Loss lab: every loss in the registry with its formulas, the generator's loss and gradient
against D(G(z)) for all of them at once, and buttons that open the Train page on a failure mode.
"""
from pathlib import Path

import streamlit as st

from gan_core.losses import LOSSES
from lab_app.charts import loss_curves_figure
from lab_app.lessons import LESSONS
from lab_app.losscurves import chart_readings, coinciding, g_loss_curves, uses_raw_scores
from lab_app.ui import lesson_card

GRAD_WRT = {"score": "D's score (what reaches G)", "p": "D(G(z)) (the curve's slope)"}
# Failure mode -> (lesson that shows it on the Train page, what to tell the class)
FAILURES = {
    "Mode collapse": (
        "toy-collapse",
        "The generator finds a few outputs that fool D and draws only those: the samples look "
        "alike, or cover one or two of the real modes. D learns to reject them, G hops to "
        "another mode, and the chase goes round."),
    "Non-convergence": (
        "non-convergence",
        "The two players keep undoing each other's progress: the losses oscillate instead of "
        "settling and the samples keep changing without getting better. Learning rates that "
        "are too high make it easy to see."),
    "Generator domination": (
        "g-domination",
        "G trains far more than D and exploits a critic that no longer keeps up: D(G(z)) "
        "climbs while the samples drift away from real data. A low G loss here does not mean "
        "good images."),
    "Discriminator domination": (
        "d-domination",
        "D gets too good too fast: D(x) goes to 1 and D(G(z)) to 0. With the saturating loss "
        "G's gradient then vanishes (the flat left end of the minimax curve above) and G stops "
        "learning."),
}


def label(name: str, gamma: float) -> str:
    """Legend name: the registry name, as on the Train page, with γ for the focal loss."""
    return f"{name} (γ = {gamma:g})" if LOSSES[name].uses_gamma else name


def styled(fig, y_range, gamma: float):
    """Clip the y-axis, draw raw-score losses dotted, shade where a new generator starts."""
    for name in LOSSES:
        if uses_raw_scores(name):
            fig.update_traces(selector=dict(name=label(name, gamma)), line_dash="dot")
    fig.add_vrect(x0=0, x1=0.1, fillcolor="#888", opacity=0.12, line_width=0,
                  annotation_text="a new G starts here", annotation_position="bottom left",
                  annotation_font_size=11)
    fig.add_hline(y=0, line=dict(color="#999", width=1))
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=y_range)
    fig.update_layout(height=430, legend=dict(orientation="h", y=-0.18, font=dict(size=11)))
    return fig


st.title("Loss lab")
st.markdown("Every loss the lab can train with, written out, and what it does to the "
            "generator. The plots put all of them on one axis: **D(G(z))**, how real the "
            "discriminator thinks a fake is. Near 0 D sees through the fake; near 1 the fake "
            "passes as real.")

# --- curves ------------------------------------------------------------------------------
st.header("What the generator feels")
left, right = st.columns(2, gap="large")
gamma = left.slider("Focal loss γ (gamma)", 0.0, 5.0, 2.0, 0.25, key="loss_lab_gamma",
                    help="γ = 0 is the non-saturating loss; the FLGAN paper uses γ = 2.")
wrt = right.radio("Gradient with respect to", list(GRAD_WRT), format_func=GRAD_WRT.get,
                  horizontal=True, key="loss_lab_wrt",
                  help="G's weights get the gradient through D's score; the slope in p is "
                       "that gradient divided by p(1 − p), the sigmoid's own slope.")

curves = g_loss_curves(gamma)
loss_fig = loss_curves_figure({label(n, gamma): (c.p, c.loss) for n, c in curves.items()},
                              "Generator loss L_G", "L_G per sample")
grad_fig = loss_curves_figure(
    {label(n, gamma): (c.p, c.grad_score if wrt == "score" else c.grad)
     for n, c in curves.items()},
    "Its gradient " + ("∂L_G / ∂score" if wrt == "score" else "∂L_G / ∂D(G(z))"),
    "∂L_G / ∂score" if wrt == "score" else "∂L_G / ∂D(G(z))")

with left:
    st.plotly_chart(styled(loss_fig, [-5.5, 6.5], gamma), key="loss_lab_loss_fig")
    st.markdown(
        "The curves fall from left to right: G's loss is lower the more D believes its fakes "
        "(least squares alone rises again, as it aims for a score of exactly 1). The minimax "
        "loss log(1 − D(G(z))) is almost flat on the left and plunges on the right; the "
        "non-saturating −log D(G(z)) is its mirror image, steep on the left where G starts. "
        + (f"Focal loss (γ = {gamma:g}) lies below it: the factor (1 − D(G(z)))^γ shrinks "
           "the loss of fakes D already believes." if gamma > 0 else
           "Focal loss with γ = 0 lies exactly on it: it is the non-saturating loss."))
with right:
    st.plotly_chart(styled(grad_fig, [-1.6, 0.6] if wrt == "score" else [-12, 3], gamma),
                    key="loss_lab_grad_fig")
    if wrt == "score":
        st.markdown(
            "Near D(G(z)) = 0, where a new generator starts, the **minimax gradient is almost "
            "zero: it saturates**, and G learns nothing just when it most needs to. The "
            "**non-saturating** loss pushes at full strength there (−1) and fades only as the "
            "fakes start to pass. "
            + (f"**Focal loss** (γ = {gamma:g}) keeps that push for poor fakes but drops to "
               "zero sooner for fakes D already believes, so training **focuses** on the hard "
               "samples. " if gamma > 0 else
               "**Focal loss** with γ = 0 is the non-saturating loss; raise γ to see it "
               "focus on the hard samples. ")
            + "Hinge and WGAN push equally hard everywhere; least squares pushes hardest for "
            "the worst fakes and pulls back once the score passes 1.")
    else:
        st.markdown(
            "Per unit of probability, the minimax slope near D(G(z)) = 0 is about −1 while the "
            "non-saturating slope runs off towards −∞: next to the others, **minimax is flat "
            f"where a new generator starts**. Focal loss (γ = {gamma:g}) is steep there too "
            "but flattens to 0 as D(G(z)) nears 1. What reaches G's weights is this slope "
            "times p(1 − p), the sigmoid's own slope: switch to *D's score* to see the "
            "minimax gradient vanish.")

raw = [label(n, gamma) for n in curves if uses_raw_scores(n)]
notes = [f"Dotted lines: {', '.join(raw)} act on D's raw score s, not on a probability; they "
         "are drawn against D(G(z)) = sigmoid(s), the score read as a logit."] if raw else []
notes += [f"{label(a, gamma)} and {label(b, gamma)} give G the same loss, so their lines lie on "
          "top of each other." for a, b in coinciding(curves)]
notes.append("A negative gradient means raising D's score for the fake lowers G's loss. "
             "Curves are computed by the lab's own loss functions (gan_core.losses) with "
             "autograd; the y-axes are clipped so the flat and steep ends stay readable.")
st.caption(" ".join(notes))

# --- reading the training charts ----------------------------------------------------------
st.header("Reading the training charts")
st.markdown(
    "The Train page draws **log(L_G / L_D)** with a dotted *balance* line: its value when D "
    "cannot tell real from fake. It is **not 0**: D's loss adds a real and a fake term while "
    "G's has one, so with cross-entropy at D = 1/2, L_D = 2 ln 2 and L_G = ln 2, and the "
    "balance is log(1/2) = −0.69. Above the line G is losing; below it D is. Each value below "
    "is computed by the lab's own loss functions at the equilibrium; where a loss is 0 or "
    "negative there, no log ratio exists and no line is drawn. Losses on raw scores do not "
    "give D a probability, so their D(x) chart shows the raw score with its own lines.")
st.table(   # a table, not a dataframe: its cells wrap, so every explanation reads in full
    [{"loss": r.loss, "balance of log(L_G/L_D)": "undefined" if r.balance is None
      else f"{r.balance:.2f}", "where it comes from": r.balance_why,
      "D(x) and D(G(z)) chart shows": r.d_output} for r in chart_readings(gamma)],
    hide_index=True)

# --- the losses --------------------------------------------------------------------------
st.header("The losses")
for name, spec in LOSSES.items():
    with st.container(border=True):
        st.subheader(spec.title)
        # Full width, so long formulas (focal, WGAN-GP) are never cut off.
        st.latex(r"\text{D:}\quad " + spec.latex_d)
        st.latex(r"\text{G:}\quad " + spec.latex_g)
        if spec.note:
            st.warning(f"**Reading the paper:** {spec.note}", icon=":material/warning:")
        st.markdown(spec.explanation)
        extras = [f"`loss={name}`"]
        if spec.params:
            extras.append("defaults: " + ", ".join(f"{p.name} = {p.default:g}" for p in spec.params))
        if spec.paper:
            extras.append(spec.paper)
        st.caption(" · ".join(extras))

# --- failure modes -----------------------------------------------------------------------
st.header("When training goes wrong")
st.caption("Each button opens the Train page set up to show the failure; then press "
           "*Start training*.")
cells = [c for _ in range(2) for c in st.columns(2)]
for cell, (failure, (key, what)) in zip(cells, FAILURES.items()):
    lesson = LESSONS[key]
    with cell:
        st.subheader(failure)
        st.markdown(what)
        lesson_card(lesson, f"loss_lab_lesson_{key}",
                    f"Show it on the {Path(lesson.page).stem.title()} page")
