"""The geozone web service (FastAPI): thin routes over the geozone core. Built in a later issue."""
