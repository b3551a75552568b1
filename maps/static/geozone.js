/*
 * geozone map helpers: layers, incident clusters, heat, legend and title for the pages built
 * by maps/cluster_map.py. Hand-written; needs Leaflet (and Leaflet.markercluster /
 * Leaflet.heat for the incident layers), all served locally by geozone.
 *
 * Convention: every string property whose name ends in "_html" was HTML-escaped by the Python
 * builder (html.escape) and may be inserted as HTML; any other string is plain text and goes
 * through GZ.escapeHtml or textContent.
 */
(function (global) {
  "use strict";

  var GZ = {};
  var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  var UNESCAPED = {
    "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'"
  };

  /** The plain text of a string escaped by html.escape (the five entities it writes). */
  GZ.unescapeHtml = function (html) {
    return String(html).replace(/&(?:amp|lt|gt|quot|#x27|#39);/g, function (e) {
      return UNESCAPED[e];
    });
  };

  /** Escape plain text for insertion into HTML. */
  GZ.escapeHtml = function (value) {
    return String(value === null || value === undefined ? "" : value).replace(
      /[&<>"']/g,
      function (c) { return ENTITIES[c]; }
    );
  };

  /**
   * A GeoJSON layer styled and labelled from its features' properties:
   * properties.style (Leaflet path options), properties.tooltip_html (a tooltip),
   * properties.label_html (a permanent label; the feature is then a label point only),
   * properties.radius_m (a point drawn as a circle of that radius in metres).
   */
  GZ.geojsonLayer = function (data, opts) {
    opts = opts || {};
    return L.geoJSON(data, {
      style: function (feature) {
        return L.extend({}, opts.style, feature.properties.style);
      },
      pointToLayer: function (feature, latlng) {
        var p = feature.properties;
        var style = L.extend({}, opts.style, p.style);
        if (p.label_html) {
          return L.circleMarker(latlng, {
            radius: 0, opacity: 0, fillOpacity: 0, interactive: false
          });
        }
        if (p.radius_m) {
          return L.circle(latlng, L.extend(style, { radius: p.radius_m }));
        }
        return L.circleMarker(latlng, style);
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        if (p.label_html) {
          layer.bindTooltip(p.label_html, {
            permanent: true, direction: "center", className: "gz-label", interactive: false
          });
        } else if (p.tooltip_html) {
          layer.bindTooltip(p.tooltip_html, { sticky: !!opts.sticky, className: "gz-tooltip" });
        }
      }
    });
  };

  function row(label, value) {
    return "<tr><th>" + label + "</th><td>" + value + "</td></tr>";
  }

  function pick(table, index, i) {
    if (!table || !index) { return null; }
    var k = index[i];
    return k === null || k === undefined || k < 0 ? null : table[k];
  }

  /** Put the numbers of a packed sentence "k|n1|n2" back into template k. */
  GZ.unpackSentence = function (templates, packed) {
    var parts = packed.split("|");
    var pieces = templates[+parts[0]].split("\u0001");
    var out = pieces[0];
    for (var j = 1; j < pieces.length; j++) { out += (parts[j] || "") + pieces[j]; }
    return out;
  };

  /** "YYYY-MM-DD HH:MM" in Vietnam time (UTC+7) from epoch minutes. */
  GZ.vietnamTime = function (minutes) {
    return new Date((minutes + 7 * 60) * 60000).toISOString().slice(0, 16).replace("T", " ");
  };

  function isSynthetic(d, i) {
    return typeof d.syn === "number" ? d.syn === 1 : !!(d.syn && d.syn[i]);
  }

  /** The popup of incident i (every table string was HTML-escaped by the builder). */
  GZ.incidentPopup = function (d, i) {
    var l = d.labels;
    var cat = d.cats[d.cat[i]];
    var html = "";
    if (isSynthetic(d, i)) {
      html += '<div class="gz-badge">' + l.synthetic_html + "</div>";
    }
    html += '<div class="gz-popup-title">' + cat.vi_html +
      ' <span class="gz-en">/ ' + cat.en_html + "</span></div>";
    html += '<table class="gz-popup-table">';
    if (d.id) { html += row(l.id_html, (d.id_prefix || "") + d.id[i]); }
    if (d.t && d.t[i] >= 0) { html += row(l.time_html, GZ.vietnamTime(d.t0 + d.t[i])); }
    var lead = pick(d.leads, d.lead, i);
    if (lead !== null) { html += row(l.lead_html, lead); }
    var rule = pick(d.rules, d.rule, i);
    if (rule !== null) { html += row(l.rule_html, rule); }
    var reports = pick(d.evs, d.ev, i);
    if (reports !== null) { html += row(l.event_html, reports); }
    html += "</table>";
    if (d.gzSentences) {
      return '<div class="gz-popup">' + html + fetchedSentences(d, i) + "</div>";
    }
    var vi = pick(d.vis, d.ex, i);
    var en = pick(d.ens, d.ex, i);
    if (vi) {
      html += '<p class="gz-explain" lang="vi">' + GZ.unpackSentence(d.vi_templates, vi) + "</p>";
    }
    if (en) {
      html += '<p class="gz-explain gz-en" lang="en">' +
        GZ.unpackSentence(d.en_templates, en) + "</p>";
    }
    return '<div class="gz-popup">' + html + "</div>";
  };

  /**
   * The sentences of incident i when the table leaves them out (a served map's: the loader
   * gives d.gzSentences(i), a promise of {vi, en} plain texts, and d.gzLabels): as fetched,
   * or a line saying they are coming, or why they could not be read.
   */
  function fetchedSentences(d, i) {
    var got = d.gzFetched && d.gzFetched[i];
    var l = d.gzLabels || {};
    if (!got || got.loading) {
      return '<p class="gz-explain gz-explain-loading">' +
        GZ.escapeHtml(l.explain_loading) + "</p>";
    }
    if (got.error !== undefined) {
      return '<p class="gz-explain gz-explain-error" role="alert">' +
        GZ.escapeHtml(l.explain_error + (got.error ? ": " + got.error : "")) + "</p>";
    }
    var html = "";
    if (got.vi) { html += '<p class="gz-explain" lang="vi">' + GZ.escapeHtml(got.vi) + "</p>"; }
    if (got.en) {
      html += '<p class="gz-explain gz-en" lang="en">' + GZ.escapeHtml(got.en) + "</p>";
    }
    return html;
  }

  /**
   * Open the shared incident popup on incident k; when the table leaves the sentences out,
   * fetch them (once per incident; again after a failure) and fill the popup if it still
   * shows k.
   */
  function openIncidentPopup(map, popup, d, k, latlng) {
    popup.gzIndex = k;
    // Panned clear of the title box (top left), not opened under it.
    popup.options.autoPanPaddingTopLeft = L.point(5, GZ.topClearance(map));
    popup.setLatLng(latlng).setContent(GZ.incidentPopup(d, k)).openOn(map);
    if (!d.gzSentences) { return; }
    d.gzFetched = d.gzFetched || {};
    var got = d.gzFetched[k];
    if (got && (got.loading || got.error === undefined)) { return; }  // coming, or here
    d.gzFetched[k] = { loading: true };
    d.gzSentences(k).then(function (texts) {
      d.gzFetched[k] = { vi: texts.vi, en: texts.en };
    }, function (error) {
      d.gzFetched[k] = { error: error && error.message ? error.message : "" };
    }).then(function () {
      if (popup.gzIndex === k && popup.isOpen()) { popup.setContent(GZ.incidentPopup(d, k)); }
      map.fire("gz:sentences", { index: k });
    });
  }

  /**
   * The canvas the incident points are painted on: one per map, in a pane above the
   * overlays that lets the mouse through (points are picked by nearestIncident), so that
   * thousands of points at high zoom cost one canvas, not thousands of SVG elements.
   */
  function incidentRenderer(map) {
    if (!map.gzIncidentRenderer) {
      var pane = map.getPane("gzIncidents") || map.createPane("gzIncidents");
      pane.style.zIndex = 450;
      pane.style.pointerEvents = "none";
      map.gzIncidentRenderer = L.canvas({ pane: "gzIncidents", padding: 0.3 });
    }
    return map.gzIncidentRenderer;
  }

  /** The index of the shown incident point nearest a container point (within px), or -1. */
  function nearestIncident(map, markers, point, px) {
    var best = -1, bestD = px * px;
    for (var i = 0; i < markers.length; i++) {
      if (!markers[i]._map) { continue; }  // clustered or out of view
      var p = map.latLngToContainerPoint(markers[i].getLatLng());
      var dx = p.x - point.x, dy = p.y - point.y, dd = dx * dx + dy * dy;
      if (dd <= bestD) { best = i; bestD = dd; }
    }
    return best;
  }

  /**
   * Incidents as circle markers in one Leaflet.markercluster group (chunked loading, one
   * shared popup filled on click): fast with 50,000 points, since only the unclustered
   * markers in view are drawn, on one canvas. From opts.unclustered_zoom (17) on, every
   * incident in view is its own point (no bubbles), picked by a click near it.
   */
  GZ.incidentLayer = function (map, d, opts) {
    opts = opts || {};
    if (opts.many && d.lat.length > opts.many && L.glify && webgl()) {
      return manyIncidents(map, d, opts);
    }
    var group = L.markerClusterGroup(L.extend({
      chunkedLoading: true,
      // long chunks, short pauses: 200,000 markers are clustered in fewer, busier steps
      // (the default 200 ms / 50 ms spends a fifth of the load waiting)
      chunkInterval: 400,
      chunkDelay: 5,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      // single points from this zoom on: no carpet of bubbles over a few streets
      disableClusteringAtZoom: opts.unclustered_zoom || 17,
      maxClusterRadius: 50,
      // counts in the one Vietnamese number format (1.458), as everywhere else
      iconCreateFunction: function (cluster) {
        var count = cluster.getChildCount();
        var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
        var width = count < 1000 ? 40 : count < 10000 ? 48 : 56;
        return new L.DivIcon({
          html: "<div><span>" + GZ.formatNumber(count, 0) + "</span></div>",
          className: "marker-cluster marker-cluster-" + size + (count >= 1000 ? " gz-cluster-wide" : ""),
          iconSize: new L.Point(width, 40)
        });
      },
      chunkProgress: function (processed, total) {
        // The plugin also reports an empty first pass (0 of 0): only the real load counts.
        if (processed === total && total === n) {
          GZ.incidentsLoadedAt = global.performance ? global.performance.now() : Date.now();
          group.fire("gz:loaded", { total: total });
        }
      }
    }, opts.cluster));
    var n = d.lat.length;
    var markers = new Array(n);
    var renderer = incidentRenderer(map);
    for (var i = 0; i < n; i++) {
      var cat = d.cats[d.cat[i]];
      markers[i] = L.circleMarker([d.lat[i], d.lon[i]], {
        radius: 6,
        weight: 1.5,
        color: "#202020",
        fillColor: cat.color,
        fillOpacity: 0.9,
        renderer: renderer,
        interactive: false,  // picked by nearestIncident: the layers below stay hoverable
        gzIndex: i
      });
    }
    // Add the markers once the group is on the map: before that, markercluster checks each
    // new marker against its pending list (quadratic: seconds for 50,000 markers).
    group.once("add", function () { group.addLayers(markers); });
    var popup = L.popup({ maxWidth: 380, className: "gz-incident-popup" });
    function open(k, latlng) { openIncidentPopup(map, popup, d, k, latlng); }
    group.on("click", function (e) {
      var k = e.layer.options.gzIndex;
      if (k === undefined) { return; }
      open(k, e.layer.getLatLng());
    });
    drawing(map);  // followed from now on
    // "preclick", as for the WebGL points: a click on a point over a hot cell or a zone
    // (whose own popup stops the map's "click") still opens the incident's, once the click
    // is done: the points are drawn on top.
    map.on("preclick", function (e) {
      if (drawing(map) || !map.hasLayer(group)) { return; }
      var k = nearestIncident(map, markers, e.containerPoint, 9);
      if (k >= 0) { global.setTimeout(function () { open(k, markers[k].getLatLng()); }, 0); }
    });
    group.gzMarkers = markers;
    group.gzCount = n;
    return group;
  };

  /**
   * Whether the planner's drawing tools are in use on the map: they own the clicks then, and
   * the map's container has class gz-drawing (cluster bubbles let the clicks through,
   * geozone.css). The tools' events are listened to once per map.
   */
  function drawing(map) {
    if (map.gzDrawing === undefined) {
      map.gzDrawing = false;
      map.on("draw:drawstart draw:editstart draw:deletestart", function () {
        map.gzDrawing = true;
        L.DomUtil.addClass(map.getContainer(), "gz-drawing");
      });
      map.on("draw:drawstop draw:editstop draw:deletestop", function () {
        map.gzDrawing = false;
        L.DomUtil.removeClass(map.getContainer(), "gz-drawing");
      });
    }
    return map.gzDrawing;
  }

  /** Whether the browser paints WebGL (without it, many incidents stay clustered markers). */
  function webgl() {
    if (GZ.webglOk === undefined) {
      try {
        var canvas = global.document.createElement("canvas");
        GZ.webglOk = !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
      } catch (e) {
        GZ.webglOk = false;
      }
    }
    return GZ.webglOk;
  }

  function rgb(hex) {
    var v = parseInt(hex.slice(1), 16);
    return { r: (v >> 16 & 255) / 255, g: (v >> 8 & 255) / 255, b: (v & 255) / 255, a: 0.9 };
  }

  /** The index of the incident nearest a container point (within px), or -1: a scan of the
   * coordinates in a box around it (typed arrays: about a millisecond for 200,000). */
  function nearestInBox(map, lat, lon, point, px) {
    var sw = map.containerPointToLatLng([point.x - px, point.y + px]);
    var ne = map.containerPointToLatLng([point.x + px, point.y - px]);
    var best = -1, bestD = px * px;
    for (var i = 0; i < lat.length; i++) {
      var a = lat[i], o = lon[i];
      if (a < sw.lat || a > ne.lat || o < sw.lng || o > ne.lng) { continue; }
      var p = map.latLngToContainerPoint([a, o]);
      var dx = p.x - point.x, dy = p.y - point.y, dd = dx * dx + dy * dy;
      if (dd <= bestD) { best = i; bestD = dd; }
    }
    return best;
  }

  /**
   * Many incidents (more than opts.many), drawn the way kepler.gl and lonboard draw them
   * instead of a carpet of cluster bubbles: below opts.points_zoom a heat layer
   * (Leaflet.heat), from it on every incident as a point painted by WebGL
   * (Leaflet.glify: one draw call for all, moved with the map without rebuilding). A
   * click picks the nearest point and opens the same popup. One Leaflet layer for the
   * layer control; it says when it is drawn as the markers layer does (GZ.incidentsLoadedAt,
   * "gz:loaded").
   */
  var ManyIncidents = null;  // made on first use: pages without Leaflet load this file too
  function manyIncidentsClass() {
    return ManyIncidents || (ManyIncidents = L.Layer.extend({
      initialize: function (d, opts) {
        this.d = d;
        this.opts = opts;
        this.pointsZoom = opts.points_zoom || 15;
        this.gzCount = d.lat.length;
        this.lat = Float64Array.from(d.lat);
        this.lon = Float64Array.from(d.lon);
      },
      onAdd: function (map) {
        this._shown = null;
        map.on("zoomend", this._switch, this);
        this._switch();
        GZ.incidentsLoadedAt = global.performance ? global.performance.now() : Date.now();
        this.fire("gz:loaded", { total: this.gzCount });
      },
      onRemove: function (map) {
        map.off("zoomend", this._switch, this);
        if (this._heat && map.hasLayer(this._heat)) { map.removeLayer(this._heat); }
        if (this._points) { this._points.remove(); this._points = null; }
        this._shown = null;
      },
      /** Heat below the points zoom, points from it on. */
      _switch: function () {
        var map = this._map;
        var points = map.getZoom() >= this.pointsZoom;
        if (points === this._shown) { return; }
        this._shown = points;
        if (points) {
          if (this._heat && map.hasLayer(this._heat)) { map.removeLayer(this._heat); }
          this._showPoints(map);
        } else {
          if (this._points) { this._points.canvas.style.display = "none"; }
          this._heat = this._heat || GZ.incidentHeat(this.d, this.opts.heat || {});
          this._heat.addTo(map);
        }
      },
      _showPoints: function (map) {
        if (this._points) {
          this._points.canvas.style.display = "";
          this._points.layer.redraw();
          return;
        }
        var d = this.d, n = d.lat.length, data = new Array(n);
        for (var i = 0; i < n; i++) { data[i] = [d.lat[i], d.lon[i]]; }
        var colours = d.cats.map(function (cat) { return rgb(cat.color); });
        incidentRenderer(map);  // the incidents' pane: above the overlays, lets the mouse through
        this._points = L.glify.points({
          map: map,
          data: data,
          size: 13,
          opacity: 0.9,
          pane: "gzIncidents",
          className: "gz-incident-points",
          color: function (k) { return colours[d.cat[k]]; }
        });
      },
      /** The incident under a click on the shown points, or -1. */
      pick: function (point) {
        if (!this._map || !this._shown) { return -1; }
        return nearestInBox(this._map, this.lat, this.lon, point, 9);
      }
    }));
  }

  function manyIncidents(map, d, opts) {
    var Layer = manyIncidentsClass();
    var layer = new Layer(d, opts);
    var popup = L.popup({ maxWidth: 380, className: "gz-incident-popup" });
    drawing(map);  // followed from now on
    function open(k) { openIncidentPopup(map, popup, d, k, [d.lat[k], d.lon[k]]); }
    // "preclick": a click on a point over a hot cell or a zone (whose own popup stops the
    // map's "click") still opens the incident's, once the click is done: points are on top.
    map.on("preclick", function (e) {
      if (drawing(map) || !map.hasLayer(layer)) { return; }
      var k = layer.pick(e.containerPoint);
      if (k >= 0) { global.setTimeout(function () { open(k); }, 0); }
    });
    return layer;
  }

  /** A heat layer of the same incidents (Leaflet.heat). */
  GZ.incidentHeat = function (d, opts) {
    var n = d.lat.length;
    var points = new Array(n);
    for (var i = 0; i < n; i++) { points[i] = [d.lat[i], d.lon[i]]; }
    return L.heatLayer(points, L.extend({ radius: 18, blur: 16, minOpacity: 0.3 }, opts));
  };

  function number(value, digits) {
    if (value === null || value === undefined || value === "") { return "–"; }
    var x = +value;
    if (!isFinite(x)) { return "–"; }
    if (digits === 0) { return String(Math.round(x)); }
    return x < 0.001 && x > 0 ? x.toExponential(1) : x.toFixed(digits);
  }

  function cellPopup(title, rows, synthetic, labels) {
    var html = "";
    if (synthetic) {
      html += '<div class="gz-badge">' + GZ.escapeHtml(synthetic.toUpperCase()) + "</div>";
    }
    html += '<div class="gz-popup-title">' + title + "</div>";
    html += '<table class="gz-popup-table">';
    rows.forEach(function (r) { html += row(r[0], r[1]); });
    html += "</table>";
    return '<div class="gz-popup">' + html + "</div>";
  }

  function cellLayer(data, cfg, styleKey, popup) {
    // the label of synthetic data (plain text), or "" for real incidents
    var meta = data.properties || {};
    var synthetic = meta.synthetic ? String(meta.synthetic_label || "synthetic") : "";
    return L.geoJSON(data, {
      style: function (feature) { return cfg.styles[styleKey(feature.properties)] || {}; },
      onEachFeature: function (feature, layer) {
        layer.bindPopup(popup(feature.properties, synthetic), { maxWidth: 320 });
      }
    });
  }

  /**
   * Significant Gi* cells (GeoJSON of GET /clusters/{id}/hotspots) coloured by kind and
   * confidence; popups give count, z, p and q. cfg: styles ("hot-99"...), names_html and
   * labels_html (escaped by the builder).
   */
  GZ.hotspotLayer = function (data, cfg) {
    var labels = cfg.labels_html;
    function key(p) {
      var level = p.confidence >= 90 ? p.confidence : 90;
      return (p.kind === "cold" ? "cold-" : "hot-") + level;
    }
    return cellLayer(data, cfg, key, function (p, synthetic) {
      return cellPopup(cfg.names_html[key(p)] || "", [
        [labels.count, number(p.count, 0)],
        [labels.z, number(p.gi_z, 2)],
        [labels.p, number(p.p_sim, 4)],
        [labels.q, number(p.q_value, 4)]
      ], synthetic, labels);
    });
  };

  /** Emerging-hotspot cells coloured by category (new, intensifying, ...), with popups. */
  GZ.emergingLayer = function (data, cfg) {
    var labels = cfg.labels_html;
    function key(p) { return String(p.category); }
    return cellLayer(data, cfg, key, function (p, synthetic) {
      var name = cfg.names_html[key(p)] || GZ.escapeHtml(p.category);
      return cellPopup(name, [
        [labels.count, number(p.count, 0)],
        [labels.hot_bins, number(p.hot_bins, 0) + " / " + number(p.n_bins, 0)],
        [labels.tau, number(p.trend_tau, 2)],
        [labels.trend_p, number(p.trend_p, 4)]
      ], synthetic, labels);
    });
  };

  /** "dd/mm/yyyy" from "yyyy-mm-dd" (or the text as given). */
  GZ.formatDay = function (iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(iso || ""));
    return m ? m[3] + "/" + m[2] + "/" + m[1] : String(iso || "");
  };

  /**
   * The plain note under a hotspot layer's legend, Vietnamese first, from the answer's
   * properties (no statistical jargon). ``span``: the days the map's incidents cover
   * (["yyyy-mm-dd", "yyyy-mm-dd"]), to which the period shown is clamped; ``names``: the
   * escaped category names of the emerging layer. A note that states the number of
   * incidents ends with what it counts (``count_basis``). Returns HTML.
   */
  GZ.analysisNote = function (kind, p, names, span) {
    if (!p) { return ""; }
    var n = function (v) { return GZ.escapeHtml(GZ.formatNumber(v, 0)); };
    var e = function (v) { return GZ.escapeHtml(GZ.formatNumber(v, 0, "en")); };
    var from = p.from || "", to = p.to || "";
    var first = span && span[0] && span[0] > from ? span[0] : from;
    var last = span && span[1] && span[1] < to ? span[1] : to;
    // The map's incidents may lie outside the analysis window (a map of another date): then
    // the window's own days, never a reversed period.
    if (first <= last) { from = first; to = last; }
    var period = GZ.formatDay(from) + " – " + GZ.formatDay(to);
    var syn = p.synthetic ? "<b>Dữ liệu mô phỏng / Synthetic data.</b> " : "";
    var level = GZ.formatNumber(100 * (1 - (p.alpha || 0.05)), 0) + " %";
    var cell = p.cell_size_m ? GZ.formatNumber(p.cell_size_m, 0) + " m" : "";
    var cellEn = p.cell_size_m ? GZ.formatNumber(p.cell_size_m, 0, "en") + " m" : "";
    var outside = p.n_outside ? " " + n(p.n_outside) + " vụ việc ngoài khu vực không được tính." : "";
    var basis = p.count_basis ? " " + GZ.escapeHtml(p.count_basis) + "." : "";
    if (p.status && p.status !== "tested") {
      return syn + "Chưa đủ vụ việc để kết luận (" + n(p.n_incidents) + " vụ việc, " + period +
        "; cần ít nhất " + n(p.min_incidents || 30) + "). <span class=\"gz-en\">Too few " +
        "incidents to tell.</span>" + basis;
    }
    if (kind === "gi") {
      return syn + "Chia khu vực thành ô " + cell + ": " + n(p.n_hot) + " ô là điểm nóng và " +
        n(p.n_cold) + " ô là điểm lạnh, có ý nghĩa thống kê ở mức " + level + " (ít khả năng " +
        "do ngẫu nhiên), từ " + n(p.n_incidents) + " vụ việc, " + period + "." + outside +
        " <span class=\"gz-en\">" + e(p.n_hot) + " hot and " + e(p.n_cold) + " cold " + cellEn +
        " cells, statistically significant at the " + level + " level, from " +
        e(p.n_incidents) + " incidents.</span>" + basis;
    }
    var parts = [];
    var counts = p.categories || {};
    Object.keys(counts).forEach(function (key) {
      if (counts[key] > 0 && names && names[key]) {
        parts.push(names[key] + ": " + n(counts[key]));
      }
    });
    var months = (p.bins || []).length;
    return syn + "Xu hướng theo " + n(months) + " tháng, " + period + ", ô " + cell +
      (parts.length ? ": " + parts.join("; ") + " ô." : ": không ô nào có xu hướng rõ.") +
      outside + " <span class=\"gz-en\">Monthly trends over " + e(months) + " months.</span>";
  };

  /**
   * A number in the Vietnamese format: 1.458 and 0,25; with ``language`` "en", in the
   * English one (1,458 and 0.25), as geozone.text.format_number writes them.
   */
  GZ.formatNumber = function (value, digits, language) {
    if (value === null || value === undefined || value === "" || !isFinite(+value)) { return "–"; }
    var en = language === "en";
    var fixed = (+value).toFixed(digits || 0).split(".");
    var whole = fixed[0].replace(/\B(?=(\d{3})+(?!\d))/g, en ? "," : ".");
    return fixed.length > 1 ? whole + (en ? "." : ",") + fixed[1] : whole;
  };

  /** "dd/mm/yyyy HH:MM (giờ Việt Nam)" from an ISO time with an offset (or "" when absent). */
  GZ.vietnamDate = function (iso) {
    if (!iso) { return ""; }
    var ms = Date.parse(iso);
    if (!isFinite(ms)) { return String(iso); }
    var t = new Date(ms + 7 * 3600000).toISOString();  // wall clock of UTC+7
    return t.slice(8, 10) + "/" + t.slice(5, 7) + "/" + t.slice(0, 4) + " " + t.slice(11, 16);
  };

  // -- the browser session (/login) -------------------------------------------------------

  /** The service's root path (before /maps/static/geozone.js), for links to /login. */
  GZ.root = (function () {
    var script = global.document.currentScript;
    var src = script && script.getAttribute("src") || "";
    var at = src.indexOf("/maps/static/geozone.js");
    if (at < 0) { return ""; }
    try { return new URL(src.slice(0, at) || "/", global.location.href).pathname.replace(/\/$/, ""); }
    catch (e) { return ""; }
  })();

  /** The CSRF token of the browser's session (cookie gz_csrf), or "" when not signed in. */
  GZ.csrfToken = function () {
    var parts = (global.document.cookie || "").split(";");
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].trim();
      if (pair.indexOf("gz_csrf=") === 0) { return decodeURIComponent(pair.slice(8)); }
    }
    return "";
  };

  /** Whether the browser signed in at /login (its session cookie goes with our requests). */
  GZ.signedIn = function () { return !!GZ.csrfToken(); };

  /** Forget a session the server refused (expired, key revoked): ask again. */
  GZ.forgetSession = function () {
    global.document.cookie = "gz_csrf=; Max-Age=0; path=" + (GZ.root || "/") + "; SameSite=Strict";
  };

  /** The sign-in page, coming back to this page. */
  GZ.loginUrl = function () {
    var here = global.location.pathname + global.location.search;
    if (GZ.root && here.indexOf(GZ.root) === 0) { here = here.slice(GZ.root.length) || "/"; }
    return GZ.root + "/login?next=" + encodeURIComponent(here);
  };

  /** Sign out (POST /logout with the session's CSRF token), then reload the page. */
  GZ.signOut = function () {
    return global.fetch(GZ.root + "/logout", {
      method: "POST",
      headers: { "X-CSRF-Token": GZ.csrfToken() },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function () { GZ.forgetSession(); global.location.reload(); });
  };

  /**
   * Headers and credentials of a request: the tab's key in X-API-Key when one was given,
   * else the session cookie (same origin only) with the CSRF token on a write.
   */
  GZ.requestInit = function (method, key, headers) {
    headers = headers || {};
    if (key) {
      headers["X-API-Key"] = key;
    } else if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = GZ.csrfToken();
    }
    return {
      method: method,
      headers: headers,
      credentials: key ? "omit" : "same-origin",
      cache: "no-store"
    };
  };

  // -- the one API-key box of a page ------------------------------------------------------

  var STORAGE_KEY = "geozone.apiKey";  // one entry for the map and planner pages of a tab

  GZ.readKey = function () {
    try { return global.sessionStorage.getItem(STORAGE_KEY) || ""; } catch (e) { return ""; }
  };

  GZ.writeKey = function (key) {
    try {
      if (key) { global.sessionStorage.setItem(STORAGE_KEY, key); }
      else { global.sessionStorage.removeItem(STORAGE_KEY); }
    } catch (e) { /* storage disabled: the key lives in memory only */ }
  };

  function KeyBox(map, labels) {
    this.map = map;
    this.labels = labels;
    this.key = GZ.readKey();
    this.listeners = [];
    var self = this;
    var control = L.control({ position: "topright" });
    control.onAdd = function () { return self._form(); };
    control.addTo(map);
    this.control = control;
    this._state();
  }

  KeyBox.prototype._form = function () {
    var self = this;
    var labels = this.labels;
    var form = L.DomUtil.create("form", "gz-key-box leaflet-control");
    form.setAttribute("autocomplete", "off");
    var prompt = L.DomUtil.create("div", "gz-key-prompt", form);
    prompt.textContent = labels.prompt;
    var signIn = L.DomUtil.create("a", "gz-sign-in", form);
    signIn.href = GZ.loginUrl();
    signIn.textContent = labels.sign_in || "Đăng nhập / Sign in";
    var or = L.DomUtil.create("div", "gz-key-or", form);
    or.textContent = labels.or_key || "";
    var label = L.DomUtil.create("label", "", form);
    label.textContent = labels.key_label;
    label.htmlFor = "gz-api-key";
    var input = L.DomUtil.create("input", "", form);
    input.id = "gz-api-key";
    input.type = "password";
    input.name = "gz-api-key";
    input.placeholder = labels.key_placeholder;
    input.setAttribute("autocomplete", "off");
    var use = L.DomUtil.create("button", "gz-key-use", form);
    use.type = "submit";
    use.textContent = labels.use;
    var forget = L.DomUtil.create("button", "gz-key-forget", form);
    forget.type = "button";
    forget.textContent = labels.forget;
    this.stateText = L.DomUtil.create("div", "gz-key-state", form);
    this.form = form;
    this.input = input;
    this.promptText = prompt;
    this.forgetButton = forget;
    var signOut = L.DomUtil.create("button", "gz-sign-out", form);
    signOut.type = "button";
    signOut.textContent = labels.sign_out || "Đăng xuất / Sign out";
    this.signOutButton = signOut;
    this.useParts = [prompt, signIn, or, label, input, use];
    L.DomEvent.on(signOut, "click", function () { GZ.signOut(); });
    L.DomEvent.disableClickPropagation(form);
    L.DomEvent.disableScrollPropagation(form);
    L.DomEvent.on(form, "submit", function (e) {
      L.DomEvent.preventDefault(e);
      var key = input.value.trim();
      input.value = "";
      if (key) { self.set(key); }
    });
    L.DomEvent.on(forget, "click", function () { self.set(""); });
    return form;
  };

  /** Whether requests can go: a key for the tab, or a session of the browser. */
  KeyBox.prototype.usable = function () { return !!this.key || GZ.signedIn(); };

  KeyBox.prototype._state = function () {
    var keyed = !!this.key;
    var session = !keyed && GZ.signedIn();
    this.stateText.textContent = keyed ? this.labels.key_set
      : session ? (this.labels.signed_in || "Đã đăng nhập / Signed in") : this.labels.kept;
    this.useParts.forEach(function (node) { node.style.display = keyed || session ? "none" : ""; });
    this.forgetButton.style.display = keyed ? "" : "none";
    this.signOutButton.style.display = session ? "" : "none";
    if (keyed || session) { L.DomUtil.removeClass(this.form, "gz-attention"); }
  };

  /** Use (or forget, with "") a key: kept for the tab, then every listener is told. */
  KeyBox.prototype.set = function (key) {
    this.key = key;
    GZ.writeKey(key);
    this._state();
    var results = this.listeners.map(function (listener) { return listener(key); });
    return Promise.all(results);
  };

  /** Ask for the key again (a refused key is forgotten); ``text`` says why. */
  KeyBox.prototype.refuse = function (text) {
    if (!this.key) { GZ.forgetSession(); }  // the session was refused: sign in again
    this.key = "";
    GZ.writeKey("");
    this._state();
    if (text) { this.promptText.textContent = text; }
    L.DomUtil.addClass(this.form, "gz-attention");
    this.input.focus();
  };

  KeyBox.prototype.onChange = function (listener) { this.listeners.push(listener); };

  /** The page's one key box (made on first use; the map and planner scripts share it). */
  GZ.keyBox = function (map, labels) {
    if (!map.gzKeyBox) { map.gzKeyBox = new KeyBox(map, labels); }
    return map.gzKeyBox;
  };

  var STATUS_VI = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa đăng nhập, hoặc khoá không đúng hay đã bị thu hồi",
    403: "Tài khoản này không có quyền làm việc này",
    404: "Không tìm thấy",
    409: "Trùng với dữ liệu đã có",
    413: "Dữ liệu gửi lên quá lớn",
    422: "Dữ liệu gửi lên không hợp lệ",
    503: "Máy chủ đang bận, hãy thử lại sau ít phút"
  };

  /** An error answer in words, Vietnamese first: "Tiếng Việt (status) / English detail". */
  GZ.errorText = function (status, detail) {
    var vi = STATUS_VI[status] || (status >= 500 ? "Lỗi máy chủ" : "Lỗi");
    return vi + " (" + status + ")" + (detail ? " / " + detail : "");
  };

  /**
   * GET JSON with the key (or, with key "", the browser's session); a failed answer rejects
   * with "status detail" and .status. onAnswer(response), if given, is called as soon as the
   * answer's headers arrive, before its body is read.
   */
  GZ.fetchJson = function (url, key, networkError, onAnswer) {
    var init = GZ.requestInit("GET", key, { "Accept": "application/json" });
    return global.fetch(url, init).then(function (response) {
      if (onAnswer) { onAnswer(response); }
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) {
          var detail = body ? (body.detail !== undefined ? body.detail : body.title) : "";
          if (detail && typeof detail !== "string") { detail = JSON.stringify(detail); }
          var error = new Error(GZ.errorText(response.status, detail || response.statusText));
          error.status = response.status;
          throw error;
        }
        return body;
      });
    }, function (failure) {
      throw new Error((networkError || "network error") + " (" + failure.message + ")");
    });
  };

  // -- basemap and patrol layers ----------------------------------------------------------

  /** A vector-tile basemap served by geozone, painted by protomaps-leaflet. */
  GZ.vectorBasemap = function (map, opts) {
    if (!global.protomapsL) { return null; }
    var layer = global.protomapsL.leafletLayer({
      url: opts.url,
      maxDataZoom: opts.maxDataZoom,
      maxZoom: opts.maxZoom,
      flavor: opts.flavor || "light",
      lang: opts.lang || "vi",
      attribution: opts.attribution || ""
    });
    layer.addTo(map);
    if (layer.bringToBack) { layer.bringToBack(); }
    return layer;
  };

  /**
   * A basemap whose tiles the page itself carries (a standalone file, which cannot read an
   * archive beside it): raster tiles as data: URLs, vector tiles through protomaps-leaflet,
   * whose requests for "gz-inline:z/x/y" are answered from the page (nothing is fetched).
   */
  GZ.inlineBasemap = function (map, opts) {
    var tiles = opts.tiles || {};
    var EMPTY = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";
    if (opts.kind === "raster") {
      var Inline = L.TileLayer.extend({
        getTileUrl: function (c) {
          var b = tiles[c.z + "/" + c.x + "/" + c.y];
          return b ? "data:" + opts.media_type + ";base64," + b : EMPTY;
        }
      });
      var raster = new Inline("", {
        maxNativeZoom: opts.maxDataZoom, maxZoom: opts.maxZoom, attribution: opts.attribution
      });
      raster.addTo(map);
      raster.bringToBack();
      return raster;
    }
    if (!GZ._inlineFetch) {
      var fetch = global.fetch;
      GZ._inlineTiles = {};
      GZ._inlineFetch = function (url, init) {
        if (typeof url === "string" && url.indexOf("gz-inline:") === 0) {
          var b = GZ._inlineTiles[url.slice(10)];
          var bytes = b ? Uint8Array.from(global.atob(b), function (ch) { return ch.charCodeAt(0); })
            : new Uint8Array(0);
          return Promise.resolve(new global.Response(bytes, { status: 200 }));
        }
        return fetch.call(global, url, init);
      };
      global.fetch = GZ._inlineFetch;
    }
    L.extend(GZ._inlineTiles, tiles);
    return GZ.vectorBasemap(map, L.extend({}, opts, { url: "gz-inline:{z}/{x}/{y}" }));
  };

  /** Saved patrol zones (GET /patrol-zones): name and units by name in the tooltip. */
  GZ.patrolZoneLayer = function (data, cfg) {
    return L.geoJSON(data, {
      style: function () { return L.extend({}, cfg.style); },
      onEachFeature: function (feature, layer) {
        var p = feature.properties || {};
        var names = p.unit_names || p.units || [];
        layer.bindTooltip("<b>" + GZ.escapeHtml(p.name) + "</b>" +
          (names.length ? "<br>" + GZ.escapeHtml(names.join(", ")) : ""),
          { sticky: true, className: "gz-tooltip" });
      }
    });
  };

  /** Suggested patrol zones (GET /clusters/{id}/patrol-suggestions), each with an accept button. */
  GZ.suggestionLayer = function (data, cfg) {
    var labels = cfg.labels || {};
    return L.geoJSON(data, {
      style: function () { return L.extend({}, cfg.style); },
      onEachFeature: function (feature, layer) {
        var p = feature.properties || {};
        layer.bindPopup(function () {
          var div = L.DomUtil.create("div", "gz-popup gz-suggestion-popup");
          var title = L.DomUtil.create("div", "gz-popup-title", div);
          title.textContent = labels.title || "";
          var members = p.unit_names || p.units || [];
          if (members && members.length) {
            var units = L.DomUtil.create("div", "", div);
            units.textContent = (labels.units || "") + ": " +
              (Array.isArray(members) ? members.join(", ") : String(members));
          }
          if (p.incidents !== undefined) {
            var count = L.DomUtil.create("div", "", div);
            count.textContent = (labels.incidents || "") + ": " + GZ.formatNumber(p.incidents, 0) +
              " · " + GZ.formatNumber(p.area_km2, 3) + " km²";
          }
          var note = L.DomUtil.create("div", "gz-legend-note", div);
          note.textContent = p.note || labels.note || "";
          var planner = layer._map && layer._map.gzPlanner;
          if (planner) {
            var accept = L.DomUtil.create("button", "gz-accept", div);
            accept.type = "button";
            accept.textContent = labels.accept || "OK";
            L.DomEvent.on(accept, "click", function () {
              layer._map.closePopup();
              planner.accept(feature);
            });
          }
          return div;
        });
      }
    });
  };

  function swatch(item) {
    var s = item.swatch || {};
    var style = "";
    if (s.kind === "line") {
      style = "border-top:" + (s.weight || 3) + "px " + (s.dash ? "dashed " : "solid ") +
        s.color + ";height:0;margin-top:8px;";
    } else if (s.kind === "circle") {
      style = "border-radius:50%;background:" + s.fill + ";border:2px solid " + s.color + ";";
    } else {
      style = "background:" + s.fill + ";border:2px solid " + s.color + ";";
    }
    return '<span class="gz-swatch" style="' + GZ.escapeHtml(style) + '"></span>';
  }

  /** One legend line: a swatch and its (already escaped) label_html. */
  GZ.legendItem = function (item) {
    return '<div class="gz-legend-item">' + swatch(item) + "<span>" + item.label_html +
      "</span></div>";
  };

  /** The width of the controls in one corner of the map (e.g. ".leaflet-top.leaflet-right"). */
  function cornerWidth(map, corner) {
    var box = map.getContainer().querySelector(corner);
    var width = 0;
    if (!box) { return 0; }
    Array.prototype.forEach.call(box.children, function (control) {
      width = Math.max(width, control.offsetWidth);
    });
    return width;
  }

  /**
   * Cap the incident panel's height to the room left under the top right controls and above
   * the bottom right ones (zoom buttons, attribution): it scrolls rather than runs under them.
   */
  function capPanel(map) {
    var container = map.getContainer();
    var panel = container.querySelector(".gz-incident-box");
    if (!panel || !container.clientHeight) { return; }
    var below = container.querySelector(".leaflet-bottom.leaflet-right");
    var top = panel.getBoundingClientRect().top - container.getBoundingClientRect().top;
    var room = container.clientHeight - top - (below ? below.offsetHeight : 0) - 10;
    var cap = Math.max(120, Math.floor(room)) + "px";
    if (panel.style.maxHeight !== cap) { panel.style.maxHeight = cap; }
  }

  /**
   * Fit the map to bounds, clear of the panels: the title and legend on the left, the layer
   * list and incident panel on the right, each as wide as it is drawn now (when there is
   * room for them and the cluster side by side; else only a margin).
   */
  GZ.fitBounds = function (map, bounds, boxes) {
    capPanel(map);
    var size = map.getSize();
    var left = 30, top = 30, right = 30;
    if (boxes.legend) { left = Math.max(left, cornerWidth(map, ".leaflet-bottom.leaflet-left") + 20); }
    if (boxes.title) {  // the zoom buttons and the title, stacked in the top left corner
      var corner = map.getContainer().querySelector(".leaflet-top.leaflet-left");
      top = Math.max(top, (corner ? corner.offsetHeight : boxes.title.offsetHeight) + 20);
    }
    // the layer list and the incident panel on the right must not cover the cluster either
    right = Math.max(right, cornerWidth(map, ".leaflet-top.leaflet-right") + 20);
    if (size.x - left - right < size.x / 3) { left = 30; right = 30; }
    if (size.y - top - 30 < size.y / 2) { top = 30; }
    map.fitBounds(bounds, {
      paddingTopLeft: [left, top], paddingBottomRight: [right, 30], animate: false
    });
  };

  /**
   * Fit again whenever a panel changes size (the incident panel grows when the hotspot
   * layers and their notes arrive), until the user moves the map himself.
   */
  function refitOnPanels(map) {
    if (!global.ResizeObserver) { return; }
    var corners = map.getContainer().querySelectorAll(".leaflet-control-container > div");
    var pending = false;
    var observer = new global.ResizeObserver(function () {
      if (pending) { return; }
      pending = true;
      global.requestAnimationFrame(function () {
        pending = false;
        capPanel(map);  // even once the user has moved the map
        if (!map.gzUserMoved) { map.gzFit(); }
      });
    });
    Array.prototype.forEach.call(corners, function (corner) {
      observer.observe(corner);
      Array.prototype.forEach.call(corner.children, function (c) { observer.observe(c); });
      // panels added later (the incident panel, the key box) are watched as they come
      new global.MutationObserver(function (changes) {
        changes.forEach(function (change) {
          Array.prototype.forEach.call(change.addedNodes, function (node) {
            if (node.nodeType === 1) { observer.observe(node); }
          });
        });
      }).observe(corner, { childList: true });
    });
  }

  /** Pixels from the map's top edge to just below its title box (5 without a title). */
  GZ.topClearance = function (map) {
    var title = map.getContainer().querySelector(".gz-title");
    if (!title) { return 5; }
    var top = map.getContainer().getBoundingClientRect().top;
    return Math.max(5, Math.ceil(title.getBoundingClientRect().bottom - top) + 8);
  };

  /** Title, plain-text attribution (no links), legend, then fit the map to spec.bounds. */
  GZ.decorate = function (map, spec) {
    var boxes = {};
    if (spec.title_html) {
      var title = L.control({ position: "topleft" });
      title.onAdd = function () {
        var div = L.DomUtil.create("div", "gz-title");
        var links = (spec.links || []).map(function (link) {
          return '<a class="gz-link" href="' + GZ.escapeHtml(link.href) + '">' +
            link.label_html + "</a>";
        }).join(" · ");
        div.innerHTML = spec.title_html +
          (spec.subtitle_html ? '<div class="gz-subtitle">' + spec.subtitle_html + "</div>" : "") +
          (links ? '<div class="gz-links">' + links + "</div>" : "");
        L.DomEvent.disableClickPropagation(div);
        boxes.title = div;
        return div;
      };
      title.addTo(map);
    }
    if (map.attributionControl) {
      map.attributionControl.setPrefix(spec.prefix_html || "Leaflet");
      (spec.attributions_html || []).forEach(function (text) {
        map.attributionControl.addAttribution(text);
      });
    }
    if (spec.legend) {
      var legend = L.control({ position: spec.legend.position || "bottomleft" });
      legend.onAdd = function () {
        var box = L.DomUtil.create("details", "gz-legend");
        // folded on a small map (the report's), so that it does not cover the cluster
        var width = map.getSize().x || global.innerWidth;
        box.open = !spec.legend.collapsed && width >= 760;
        var html = '<summary class="gz-legend-title">' + (spec.legend.title_html || "") +
          "</summary>";
        (spec.legend.sections || []).forEach(function (section) {
          var items = "";
          section.items.forEach(function (item) { items += GZ.legendItem(item); });
          (section.groups || []).forEach(function (group) {  // many members: by old unit
            items += '<details class="gz-legend-group"' + (group.open ? " open" : "") +
              '><summary>' + group.title_html + "</summary>";
            group.items.forEach(function (item) { items += GZ.legendItem(item); });
            items += "</details>";
          });
          if (section.title_html) {
            html += '<div class="gz-legend-section">' + section.title_html + "</div>";
          }
          html += items;
          if (section.note_html) {
            html += '<div class="gz-legend-note">' + section.note_html + "</div>";
          }
        });
        if (spec.legend.notice_html) {
          html += '<div class="gz-badge">' + spec.legend.notice_html + "</div>";
        }
        (spec.legend.notices_html || []).forEach(function (notice) {  // an unfinished import
          html += '<div class="gz-notice">' + notice + "</div>";
        });
        if (spec.legend.attribution_html) {
          html += '<div class="gz-legend-attribution">' + spec.legend.attribution_html + "</div>";
        }
        box.innerHTML = html;
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        boxes.legend = box;
        return box;
      };
      legend.addTo(map);
    }
    if (spec.bounds) {
      // fitted again when a panel is added or grows (the incident box of a served map),
      // as long as the user has not moved the map himself
      var fitting = false;
      map.gzBounds = spec.bounds;  // the cluster's members: what no panel may cover
      map.gzFit = function () {
        if (map.gzUserMoved) { return; }
        fitting = true;
        try {
          GZ.fitBounds(map, spec.bounds, boxes);
        } finally {
          fitting = false;
        }
      };
      map.on("dragstart", function () { map.gzUserMoved = true; });
      map.on("zoomstart", function () { if (!fitting) { map.gzUserMoved = true; } });
      map.gzFit();
      fitWhenSized(map);
      refitOnPanels(map);
    }
    declutterLabels(map);
  };

  /**
   * A map laid out late (the report's map in a lazy iframe: 0 × 0 when the script ran) was
   * fitted to nothing and opened at the deepest zoom: fit it again once it has a size.
   */
  function fitWhenSized(map) {
    var container = map.getContainer();
    if (container.clientWidth > 0 && container.clientHeight > 0) { return; }
    var done = false;
    function refit() {
      if (done || !(container.clientWidth > 0 && container.clientHeight > 0)) { return; }
      done = true;
      map.invalidateSize({ animate: false });
      map.gzFit();
    }
    if (global.ResizeObserver) {
      var observer = new global.ResizeObserver(function () {
        refit();
        if (done) { observer.disconnect(); }
      });
      observer.observe(container);
    }
    global.addEventListener("load", refit);
    global.addEventListener("resize", refit);
  }

  /** Hide the permanent unit labels that overlap one shown before them (many members). */
  function declutterLabels(map) {
    function run() {
      var shown = [];
      var labels = map.getContainer().querySelectorAll(".leaflet-tooltip.gz-label");
      Array.prototype.forEach.call(labels, function (label) {
        label.style.visibility = "";
        var r = label.getBoundingClientRect();
        var clash = shown.some(function (o) {
          return r.left < o.right && r.right > o.left && r.top < o.bottom && r.bottom > o.top;
        });
        if (clash) { label.style.visibility = "hidden"; } else { shown.push(r); }
      });
    }
    map.on("zoomend moveend overlayadd", function () { global.setTimeout(run, 0); });
    global.setTimeout(run, 0);
  }

  global.GZ = GZ;
})(window);
