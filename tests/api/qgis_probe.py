"""Open geozone's OGC API collections with QGIS's OAPIF provider; print what QGIS read as JSON.

Run with the Python QGIS is built for (Debian's ``python3-qgis``: ``/usr/bin/python3``), not
the project's virtualenv; ``tests/api/test_ogc_clients.py`` runs it against a served instance::

    /usr/bin/python3 tests/api/qgis_probe.py URL NAME:KEY_OR_EMPTY BBOX COLLECTION...

For each collection: whether the layer is valid, its fields, the features read, their ids
(the ``code`` field of units), and the features read within BBOX (``minx,miny,maxx,maxy``).
With a key, an authentication configuration sends it: the *API Header* method as
``X-API-Key`` where this QGIS has it (3.24+), else *Basic* with the key's name as the user
and the key as the password (``auth`` says which was used).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # after QT_QPA_PLATFORM is set
    QgsApplication,
    QgsAuthMethodConfig,
    QgsFeatureRequest,
    QgsRectangle,
    QgsVectorLayer,
)


def main() -> None:
    """Open each collection named on the command line and print the findings."""
    url, key, bbox, *names = sys.argv[1:]
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    os.environ["QGIS_AUTH_DB_DIR_PATH"] = profile
    app = QgsApplication([], False, profile)
    app.initQgis()
    auth_id = method = ""
    methods = list(QgsApplication.authManager().authMethodsKeys())
    if key:
        name, _, secret = key.partition(":")
        manager = QgsApplication.authManager()
        manager.setMasterPassword("probe", True)
        # The API Header method where this QGIS has it (3.24+), else Basic (name, key).
        method = "APIHeader" if "APIHeader" in methods else "Basic"
        config = QgsAuthMethodConfig(method)
        config.setName("geozone")
        if method == "APIHeader":
            config.setConfigMap({"X-API-Key": secret})
        else:
            config.setConfigMap({"username": name, "password": secret})
        manager.storeAuthenticationConfig(config)
        auth_id = config.id()
    minx, miny, maxx, maxy = (float(v) for v in bbox.split(","))
    found: dict[str, object] = {"auth_methods": methods, "auth": method}
    for name in names:
        source = f"url='{url}' typename='{name}'" + (f" authcfg='{auth_id}'" if auth_id else "")
        layer = QgsVectorLayer(source, name, "OAPIF")
        entry: dict[str, object] = {"valid": layer.isValid()}
        if layer.isValid():
            fields = [f.name() for f in layer.fields()]
            ids = [str(f["code"]) if "code" in fields else str(f.id()) for f in layer.getFeatures()]
            request = QgsFeatureRequest().setFilterRect(QgsRectangle(minx, miny, maxx, maxy))
            boxed = [
                str(f["code"]) if "code" in fields else str(f.id())
                for f in layer.getFeatures(request)
            ]
            entry.update(fields=fields, ids=ids, boxed=boxed, crs=layer.crs().authid())
        found[name] = entry
    print(json.dumps(found), flush=True)
    app.exitQgis()
    os._exit(0)  # QGIS 3.22's Python bindings crash in the interpreter's own shutdown


if __name__ == "__main__":
    main()
