"""Streamlit-facing helpers of the dashboard (the only Streamlit code besides views/)."""
