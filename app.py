"""The GAN teaching lab: `streamlit run app.py`.

Builds the navigation and the shared sidebar; each page is a short script in app_pages/ that calls
gan_core. The folder is not called pages/: Streamlit's older automatic page list still serves a
file there on its own (no navigation, no wide layout) when a shared link such as /train?... is
the very first request to a freshly started server. Training runs in worker processes (gan_core.jobs,
gan_core.workers), never in the page script or this process.
"""
# Every module a page needs, imported here, first, at the top level of the script every
# session runs before its page. Ten sessions opening the Experiments page at once on a freshly
# started server imported pandas from several threads, each already inside other imports, and
# 8 of them got "partially initialized module 'pandas'". Here every session imports the same
# modules in the same order holding no other import, so later sessions wait for the first.
import matplotlib  # the quick rerun's plots (gan_core.sweep_stats), off-screen
matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402, F401
import pandas  # noqa: E402, F401 - st.dataframe's tables
import plotly.graph_objects  # noqa: E402, F401 - the charts
import plotly.io  # noqa: E402, F401
import streamlit as st  # noqa: E402

import gan_core.claims  # noqa: E402, F401 - what the pages use, so no first visit imports it
import gan_core.jobs  # noqa: E402, F401
import gan_core.sweep_stats  # noqa: E402, F401
import gan_core.uploads  # noqa: E402, F401
import gan_core.verdicts  # noqa: E402, F401
import lab_app.charts  # noqa: E402, F401
import lab_app.explore  # noqa: E402, F401
import lab_app.inside  # noqa: E402, F401
import lab_app.lessons  # noqa: E402, F401
import lab_app.livecharts  # noqa: E402, F401
import lab_app.losscurves  # noqa: E402, F401
import lab_app.narration  # noqa: E402, F401
import lab_app.phase  # noqa: E402, F401
import lab_app.pretrained  # noqa: E402, F401
import lab_app.recipes  # noqa: E402, F401
import lab_app.saved  # noqa: E402, F401
import lab_app.settings  # noqa: E402, F401
import lab_app.sweep_results  # noqa: E402, F401
import lab_app.widgets  # noqa: E402, F401
from lab_app.pages import HOME, PAGES  # noqa: E402
from lab_app.ui import class_banner, sidebar, torch_threads  # noqa: E402

st.set_page_config(page_title="GAN teaching lab", page_icon=":material/blur_on:", layout="wide")
torch_threads()

page = st.navigation([st.Page(p.file, title=p.title, icon=p.icon, default=p is HOME)
                      for p in PAGES])
sidebar()
class_banner()
page.run()
