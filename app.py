"""The GAN teaching lab: `streamlit run app.py`.

Builds the navigation and the shared sidebar; each page is a short script in pages/ that calls
gan_core. Training runs in background threads (gan_core.jobs), never in the page script.
"""
import streamlit as st

from lab_app.ui import sidebar, torch_threads

st.set_page_config(page_title="GAN teaching lab", page_icon=":material/blur_on:", layout="wide")
torch_threads()

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/explore.py", title="Latent explorer", icon=":material/explore:"),
    st.Page("pages/loss_lab.py", title="Loss lab", icon=":material/functions:"),
]
page = st.navigation(PAGES)
sidebar()
page.run()
