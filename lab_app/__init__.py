"""Helpers for the Streamlit pages: settings in the URL, charts, lessons, session runs."""
