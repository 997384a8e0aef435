"""Dirac-GAN: the smallest GAN's whole game as a plane (Mescheder et al. 2018), with the update
rule, the loss and the regularisers as switches and a start point picked by a click."""
import streamlit as st

from gan_core.dirac import UPDATES, summary, trajectory
from gan_core.losses import LOSSES
from lab_app import phase, safe
from lab_app.phase import KNOB, SCENES, key

st.title("Why GANs circle: the Dirac-GAN")
st.markdown(
    "The smallest GAN there is. The real data is a single point at **x = 0**. The generator "
    "puts all its samples at one point **θ**; the discriminator is a line through 0, "
    "**D(x) = ψ·x**, with slope **ψ**. The game is won at **(θ, ψ) = (0, 0)**: G on the data, "
    "and a D that cannot tell. Each arrow shows where one gradient step from that point "
    "goes; the red line is training from the start point, round after round.")

# --- settings, first from the URL ------------------------------------------------------------
url = st.query_params.to_dict()
if st.session_state.get("dirac_url") != url or key("loss") not in st.session_state:
    s0, messages = phase.settings_from_params(url or st.session_state.get("dirac_saved", {}))
    st.session_state.update(phase.widget_state(s0))
    st.session_state.dirac_messages = messages
    st.session_state.dirac_url = url
for msg in st.session_state.get("dirac_messages", []):
    st.warning(f"The link's setting {safe.text(msg)}.", icon=":material/link_off:")

# A click on the plane picks the next start, before the start's inputs are drawn. Streamlit
# keeps the selection across reruns, so only a point not yet taken counts.
picked = phase.clicked_point(st.session_state.get("dirac_plane"))
if picked is not None and picked != st.session_state.get("dirac_picked"):
    st.session_state.dirac_picked = picked
    st.session_state[key("theta")], st.session_state[key("psi")] = picked


def show_scene(name: str) -> None:
    """Button callback (runs before the widgets): the scene's set-up, from the defaults."""
    s, _ = phase.settings_from_params(SCENES[name].params)
    st.session_state.update(phase.widget_state(s))


st.caption("Try:")
for column, (name, scene) in zip(st.columns(len(SCENES)), SCENES.items()):
    column.button(scene.title, key=f"dirac_scene_{name}", on_click=show_scene, args=(name,),
                  help=scene.what, width="stretch")

controls, plane = st.columns([1, 2.4], gap="large")
with controls:
    st.selectbox("Loss", list(LOSSES), key=key("loss"), format_func=lambda n: LOSSES[n].title,
                 help="The lab's own loss functions (gan_core.losses) on D's logit ψ·x.")
    for name, lo, hi in phase.LOSS_PARAMS:      # focal γ: shown for every loss, used by its own
        owners = [n for n in LOSSES if any(p == name for p, *_ in phase.loss_knobs(n))]
        st.number_input(f"{name} ({', '.join(owners)} only)", lo, hi, step=0.5, key=key(name),
                        disabled=st.session_state[key("loss")] not in owners)
    if LOSSES[st.session_state[key("loss")]].gradient_penalty:
        st.caption("Without its penalty this is plain WGAN; the gradient penalty is a switch "
                   "below.")
    st.radio("Updates", UPDATES, key=key("update"), horizontal=True,
             format_func={"alternating": "alternating (D, then G)",
                          "simultaneous": "simultaneous"}.get,
             help="Alternating: D steps first, then G sees D's new slope (as the lab trains). "
                  "Simultaneous: both step from the same point.")
    k = KNOB["lr"]
    st.number_input("Learning rate (both players)", k.lo, k.hi, step=0.05, format="%.3f",
                    key=key("lr"), help="Plain gradient descent, as in the paper (no Adam).")
    left, right = st.columns(2)
    for column, name, player in ((left, "d_steps", "D"), (right, "g_steps", "G")):
        column.number_input(f"{player} steps per round", int(KNOB[name].lo), int(KNOB[name].hi),
                            key=key(name))
    st.markdown("**Regularisers**")
    for name, (label, symbol, why) in phase.SWITCHES.items():
        on_col, value_col = st.columns([3, 2], vertical_alignment="center")
        on = on_col.toggle(label, key=key(f"{name}_on"), help=why)
        value_col.number_input(symbol, KNOB[name].lo, KNOB[name].hi, step=0.1, key=key(name),
                               disabled=not on, label_visibility="collapsed")
    st.markdown("**Start** (or click the plane)")
    left, right = st.columns(2)
    for column, name, symbol in ((left, "theta", "θ"), (right, "psi", "ψ")):
        k = KNOB[name]
        column.number_input(f"start {symbol}", k.lo, k.hi, step=0.1, format="%.2f",
                            key=key(name))
    k = KNOB["steps"]
    st.slider("Rounds", int(k.lo), int(k.hi), key=key("steps"))

s = phase.settings_from_widgets(st.session_state)
path = trajectory(s)
result = summary(path, s.steps)
st.session_state.dirac_saved = phase.params_of(s)
st.query_params.from_dict(st.session_state.dirac_saved)      # the plane is a link
st.session_state.dirac_url = st.query_params.to_dict()

with plane:
    st.plotly_chart(phase.plane_figure(s, path, result), key="dirac_plane", on_select="rerun",
                    selection_mode="points", config={"displayModeBar": False})
    with st.container(key="dirac_summary"):
        st.markdown(f"**This path {result.words}.**")
        st.caption(f"Distance to (0, 0): {result.start_distance:.3f} at the start, "
                   f"{result.end_distance:.3f} after {result.rounds} rounds "
                   f"({result.turns:.1f} turns). Copy the address bar to share this plane.")

st.header("What the class sees")
st.markdown("\n".join(f"- **{scene.title}**: {scene.what}" for scene in SCENES.values()))
st.markdown(phase.READING)
st.caption(phase.HOW)
