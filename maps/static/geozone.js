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
    html += "</table>";
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
   * Incidents as circle markers in one Leaflet.markercluster group (chunked loading, one
   * shared popup filled on click): fast with 50,000 points, since only the unclustered
   * markers in view are drawn (SVG, so the layers below stay hoverable).
   */
  GZ.incidentLayer = function (map, d, opts) {
    opts = opts || {};
    var group = L.markerClusterGroup(L.extend({
      chunkedLoading: true,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      maxClusterRadius: 50,
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
    for (var i = 0; i < n; i++) {
      var cat = d.cats[d.cat[i]];
      markers[i] = L.circleMarker([d.lat[i], d.lon[i]], {
        radius: 6,
        weight: 1.5,
        color: "#202020",
        fillColor: cat.color,
        fillOpacity: 0.9,
        gzIndex: i
      });
    }
    // Add the markers once the group is on the map: before that, markercluster checks each
    // new marker against its pending list (quadratic: seconds for 50,000 markers).
    group.once("add", function () { group.addLayers(markers); });
    var popup = L.popup({ maxWidth: 380, className: "gz-incident-popup" });
    group.on("click", function (e) {
      var k = e.layer.options.gzIndex;
      if (k === undefined) { return; }
      popup.setLatLng(e.layer.getLatLng()).setContent(GZ.incidentPopup(d, k)).openOn(map);
    });
    return group;
  };

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

  /** Fit the map to bounds, leaving room for the title and legend when there is room. */
  GZ.fitBounds = function (map, bounds, boxes) {
    var size = map.getSize();
    var left = 30, top = 30;
    if (boxes.legend) { left = Math.max(left, boxes.legend.offsetWidth + 20); }
    if (boxes.title) { top = Math.max(top, boxes.title.offsetHeight + 20); }
    if (size.x - left - 30 < size.x / 2) { left = 30; }
    if (size.y - top - 30 < size.y / 2) { top = 30; }
    map.fitBounds(bounds, {
      paddingTopLeft: [left, top], paddingBottomRight: [30, 30], animate: false
    });
  };

  /** Title, plain-text attribution (no links), legend, then fit the map to spec.bounds. */
  GZ.decorate = function (map, spec) {
    var boxes = {};
    if (spec.title_html) {
      var title = L.control({ position: "topleft" });
      title.onAdd = function () {
        var div = L.DomUtil.create("div", "gz-title");
        div.innerHTML = spec.title_html +
          (spec.subtitle_html ? '<div class="gz-subtitle">' + spec.subtitle_html + "</div>" : "");
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
        box.open = true;
        var html = '<summary class="gz-legend-title">' + (spec.legend.title_html || "") +
          "</summary>";
        (spec.legend.sections || []).forEach(function (section) {
          if (section.title_html) {
            html += '<div class="gz-legend-section">' + section.title_html + "</div>";
          }
          section.items.forEach(function (item) { html += GZ.legendItem(item); });
          if (section.note_html) {
            html += '<div class="gz-legend-note">' + section.note_html + "</div>";
          }
        });
        if (spec.legend.notice_html) {
          html += '<div class="gz-badge">' + spec.legend.notice_html + "</div>";
        }
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
    if (spec.bounds) { GZ.fitBounds(map, spec.bounds, boxes); }
  };

  global.GZ = GZ;
})(window);
