"""The GAN teaching lab: `streamlit run app.py`.

Builds the navigation and the shared sidebar; each page is a short script in app_pages/ that calls
gan_core. The folder is not called pages/: Streamlit's older automatic page list still serves a
file there on its own (no navigation, no wide layout) when a shared link such as /train?... is
the very first request to a freshly started server. Training runs in worker processes (gan_core.jobs,
gan_core.workers), never in the page script or this process.
"""
import streamlit as st

from lab_app.pages import HOME, PAGES
from lab_app.ui import sidebar, torch_threads

st.set_page_config(page_title="GAN teaching lab", page_icon=":material/blur_on:", layout="wide")
torch_threads()

page = st.navigation([st.Page(p.file, title=p.title, icon=p.icon, default=p is HOME)
                      for p in PAGES])
sidebar()
page.run()
