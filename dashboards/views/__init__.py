"""Pages of the Streamlit app (scripts run by st.navigation)."""
