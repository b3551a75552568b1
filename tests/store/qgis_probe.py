"""Open layers with QGIS's own providers; print what QGIS read as JSON.

Run with the Python QGIS is built for (Debian's ``python3-qgis``: ``/usr/bin/python3``), not
the project's virtualenv; the store tests run it on an export and on a PostGIS store::

    /usr/bin/python3 tests/store/qgis_probe.py '[["ogr", "URI", "SUBSET"], ...]'

For each (provider, URI, subset): whether the layer is valid, its fields, its geometry type
and CRS, its features counted, and counted again under the subset string (a QGIS filter
expression such as ``"lead_unit" = '00002'``, what a user types in the layer's filter).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes  # after QT_QPA_PLATFORM


def main() -> None:
    """Open each layer given and print the findings, one JSON list on the last line."""
    wanted = json.loads(sys.argv[1])
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    found = []
    for provider, uri, subset in wanted:
        layer = QgsVectorLayer(uri, "probe", provider)
        entry: dict[str, object] = {"valid": layer.isValid()}
        if layer.isValid():
            entry.update(
                fields=[f.name() for f in layer.fields()],
                geometry=QgsWkbTypes.displayString(layer.wkbType()),
                crs=layer.crs().authid(),
                count=sum(1 for _ in layer.getFeatures()),
            )
            if subset:
                entry["subset_applied"] = layer.setSubsetString(subset)
                entry["subset_count"] = sum(1 for _ in layer.getFeatures())
        found.append(entry)
    print(json.dumps(found), flush=True)
    app.exitQgis()
    os._exit(0)  # QGIS 3.22's Python bindings crash in the interpreter's own shutdown


if __name__ == "__main__":
    main()
