"""Folium map builders and the map page assets. Depends on geozone only. Built in a later issue."""
