"""Reports: the cluster review (sơ kết) and the exports of layers and tables.

The review of a cluster over a period (:func:`cluster_report`, :class:`ClusterReport`), in the
order it is made:

- :mod:`~geozone.report.forms`: the forms of a cluster (the original and the forms carried
  into newer units), the days each applies, and the notes on them;
- :mod:`~geozone.report.incidents`: the incidents of those forms in the period, read from the
  store with their decisions;
- :mod:`~geozone.report.tables`: the tables, their titles and bilingual column labels;
- :mod:`~geozone.report.figures`: the headline figures and sentences;
- :mod:`~geozone.report.sections`: the hotspot and border-effect sections;
- :mod:`~geozone.report.review`: the report object, its JSON and CSV exports, and
  :func:`cluster_report`, which puts it together.

The printable HTML page is built by ``maps.report``. Apart from the review,
:mod:`~geozone.report.exports` writes layers to GeoPackage and friends, with the attribution.
"""

from geozone.labels import CHANGE_LABELS
from geozone.report.forms import ClusterForm, cluster_forms, period_bounds
from geozone.report.incidents import cluster_incidents
from geozone.report.review import SYNTHETIC_LABEL, ClusterReport, cluster_report
from geozone.report.tables import COLUMN_LABELS, TABLES, label, ratio

__all__ = [
    "CHANGE_LABELS",
    "COLUMN_LABELS",
    "SYNTHETIC_LABEL",
    "TABLES",
    "ClusterForm",
    "ClusterReport",
    "cluster_forms",
    "cluster_incidents",
    "cluster_report",
    "label",
    "period_bounds",
    "ratio",
]
