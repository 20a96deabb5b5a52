"""The dashboard's query layer: typed filters -> ES bodies -> tables. No Streamlit here."""
