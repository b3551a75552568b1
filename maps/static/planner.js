/*
 * geozone patrol-zone planner (hand-written; served from maps/static).
 * Needs Leaflet, Leaflet.draw and geozone.js. The HTTP contract is in maps/planner.py:
 *   GET    {list}            -> GeoJSON FeatureCollection of the cluster's patrol zones
 *   POST   {collection}      {"cluster_id", "name", "geometry"} -> 201 Feature
 *   PUT    {item with id}    same body -> 200 Feature
 *   DELETE {item with id}    -> 204
 *   GET    {coverage with id} -> what a saved zone covers (when cfg.endpoints.coverage)
 * every request carrying the browser's session (signed in at /login: the cookie, and the
 * CSRF token in "X-CSRF-Token" on writes) or the header "X-API-Key" from the page's one key
 * box (GZ.keyBox: kept in sessionStorage, this tab only, never in the URL); see
 * GZ.requestInit. Nothing is requested before either is there, so the first thing a planner
 * sees is the request to sign in or give a key, not a refusal.
 * Errors (problem+json "detail") are shown in a visible message box, Vietnamese first.
 * Text from the server is inserted with textContent (or escaped), never as raw HTML.
 */
(function (global) {
  "use strict";

  var GZ = global.GZ;

  /** Put ``value`` in every "{key}" of a label (no "$" patterns, unlike String.replace). */
  function fill(template, key, value) {
    return String(template).split("{" + key + "}").join(String(value));
  }

  function element(tag, className, parent, text) {
    var node = L.DomUtil.create(tag, className || "", parent);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function problemDetail(payload) {
    if (!payload) { return ""; }
    var detail = payload.detail !== undefined ? payload.detail : payload.title;
    if (detail === undefined || detail === null) { return ""; }
    if (typeof detail === "string") { return detail; }
    if (Array.isArray(detail)) {  // validation errors: [{loc, msg}, ...]
      return detail.map(function (d) {
        return d && d.msg ? (d.loc ? d.loc.join(".") + ": " : "") + d.msg : JSON.stringify(d);
      }).join("; ");
    }
    return JSON.stringify(detail);
  }

  function percent(share) {
    return share === null || share === undefined ? "–" : GZ.formatNumber(100 * share, 1) + " %";
  }

  function Planner(map, cfg) {
    this.map = map;
    this.cfg = cfg;
    this.labels = cfg.labels;
    this.items = L.featureGroup().addTo(map);
    this.coverage = {};
    this._messageBox();
    this.keys = GZ.keyBox(map, cfg.key_labels);
    this._drawControl();
    var self = this;
    this.keys.onChange(function (key) {
      if (!self.keys.usable()) { self.items.clearLayers(); return null; }
      self.ready = self.load();
      return self.ready;
    });
    // the reference layers (incidents, hot cells, suggestions) stay under the zones drawn
    map.on("gz:layer", function () { self.items.bringToFront(); });
    map.on(L.Draw.Event.CREATED, function (e) { self.create(e.layer); });
    map.on(L.Draw.Event.EDITED, function (e) {
      e.layers.eachLayer(function (layer) { self.save(layer); });
    });
    map.on(L.Draw.Event.DELETED, function (e) {
      e.layers.eachLayer(function (layer) { self.remove(layer); });
    });
    this.ready = this.keys.usable() ? this.load() : Promise.resolve(null);
  }

  // -- interface -------------------------------------------------------------------------

  Planner.prototype._messageBox = function () {
    var box = element("div", "gz-message-box", this.map.getContainer());
    box.setAttribute("role", "alert");
    box.setAttribute("aria-live", "assertive");
    var close = element("button", "gz-message-close", box, "×");
    close.type = "button";
    close.title = this.labels.close;
    this.messageText = element("span", "gz-message-text", box);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.on(close, "click", function () { box.className = "gz-message-box"; });
    this.messageBox = box;
  };

  Planner.prototype._show = function (kind, text) {
    this.messageText.textContent = text;
    this.messageBox.className = "gz-message-box gz-visible gz-" + kind;
    this.lastMessage = { kind: kind, text: text };
    var box = this.messageBox;
    if (this._hide) { global.clearTimeout(this._hide); this._hide = null; }
    if (kind === "info") {
      this._hide = global.setTimeout(function () { box.className = "gz-message-box"; }, 5000);
    }
  };

  Planner.prototype.info = function (text) { this._show("info", text); };

  Planner.prototype.error = function (text) {
    this._show("error", this.labels.error_prefix + ": " + text);
  };

  Planner.prototype._drawControl = function () {
    var labels = this.labels;
    var buttons = L.drawLocal.draw.toolbar.buttons;
    buttons.polygon = labels.draw_polygon;
    buttons.rectangle = labels.draw_rectangle;
    L.drawLocal.edit.toolbar.buttons.edit = labels.edit;
    L.drawLocal.edit.toolbar.buttons.remove = labels.remove;
    var shape = L.extend({}, this.cfg.style);
    this.drawControl = new L.Control.Draw({
      position: "topleft",
      draw: {
        polygon: { allowIntersection: false, showArea: true, metric: true, shapeOptions: shape },
        rectangle: { showArea: true, metric: true, shapeOptions: shape },
        polyline: false,
        circle: false,
        marker: false,
        circlemarker: false
      },
      edit: { featureGroup: this.items, remove: true }
    });
    this.map.addControl(this.drawControl);
  };

  // -- the API ---------------------------------------------------------------------------

  Planner.prototype.itemUrl = function (template, id) {
    return template.replace("{id}", encodeURIComponent(String(id)));
  };

  Planner.prototype.request = function (method, url, body) {
    var self = this;
    var key = this.keys.key;
    if (!this.keys.usable()) {  // nothing is sent without a key or a session: ask
      this.keys.refuse(this.labels.key_needed);
      var missing = new Error(this.labels.key_needed);
      missing.status = 401;
      return Promise.reject(missing);
    }
    var init = GZ.requestInit(method, key, {
      "Accept": "application/geo+json, application/json, application/problem+json"
    });
    var headers = init.headers;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return global.fetch(url, init).then(
      function (response) {
        if (response.status === 204) { return null; }
        var type = response.headers.get("Content-Type") || "";
        var payload = type.indexOf("json") >= 0
          ? response.json().catch(function () { return null; })
          : response.text().then(function () { return null; });
        return payload.then(function (data) {
          if (response.ok) { return data; }
          var detail = problemDetail(data) || response.statusText || "";
          var error = new Error(GZ.errorText(response.status, detail));
          error.status = response.status;
          if (response.status === 401) { self.keys.refuse(self.labels.refused); }
          throw error;
        });
      },
      function (failure) {
        throw new Error(self.labels.network_error + " (" + failure.message + ")");
      }
    );
  };

  Planner.prototype.load = function () {
    var self = this;
    return this.request("GET", this.cfg.endpoints.list).then(
      function (collection) {
        self.items.clearLayers();
        var features = (collection && collection.features) || [];
        features.forEach(function (feature) { self.addFeature(feature); });
        self.info(fill(self.labels.loaded, "n", features.length));
        return features.length;
      },
      function (error) { self.error(error.message); return null; }
    );
  };

  Planner.prototype.defaultName = function () {
    var names = {};
    this.items.eachLayer(function (layer) {
      if (layer.gzZone) { names[layer.gzZone.name] = true; }
    });
    var n = this.items.getLayers().length + 1;
    while (names[fill(this.labels.default_name, "n", n)]) { n += 1; }
    return fill(this.labels.default_name, "n", n);
  };

  /** A drawn polygon: ask its name, then save it (cancel = discard the drawing). */
  Planner.prototype.create = function (layer, name) {
    if (name === undefined) {
      name = global.prompt(this.labels.name_prompt, this.defaultName());
      if (name === null) { return Promise.resolve(null); }
    }
    name = String(name).trim() || this.defaultName();
    layer.gzZone = { id: null, name: name, units: [], notes: null };
    this.items.addLayer(layer);
    this.decorate(layer);
    return this.save(layer);
  };

  /** A suggested zone accepted with one click: saved as a patrol zone under its own name. */
  Planner.prototype.accept = function (feature) {
    var layer = L.geoJSON(feature).getLayers()[0];
    if (!layer) { return Promise.resolve(null); }
    var props = feature.properties || {};
    var name = fill(this.labels.suggestion_name, "n", props.suggestion_id || "");
    return this.create(layer, name);
  };

  /** POST a new zone or PUT an existing one; the server's Feature replaces the layer. */
  Planner.prototype.save = function (layer) {
    var self = this;
    var zone = layer.gzZone;
    var creating = zone.id === null || zone.id === undefined;
    var body = {
      cluster_id: this.cfg.cluster_id,
      name: zone.name,
      geometry: layer.toGeoJSON().geometry
    };
    var url = creating ? this.cfg.endpoints.collection : this.itemUrl(this.cfg.endpoints.item, zone.id);
    return this.request(creating ? "POST" : "PUT", url, body).then(
      function (feature) {
        self.items.removeLayer(layer);
        var added = self.addFeature(feature);
        self.info(fill(self.labels.saved, "name", zone.name));
        if (added && self.cfg.endpoints.coverage) {
          delete self.coverage[added.gzZone.id];
          added.openPopup();  // the coverage figures come in as soon as they are computed
        }
        return added;
      },
      function (error) {
        zone.unsaved = true;
        self.decorate(layer);
        self.error(error.message);
        return null;
      }
    );
  };

  Planner.prototype.remove = function (layer) {
    var self = this;
    var zone = layer.gzZone || {};
    if (zone.id === null || zone.id === undefined) { return Promise.resolve(true); }
    return this.request("DELETE", this.itemUrl(this.cfg.endpoints.item, zone.id)).then(
      function () {
        self.info(fill(self.labels.deleted, "name", zone.name));
        return true;
      },
      function (error) {
        self.items.addLayer(layer);  // the server still has it
        self.error(error.message);
        return false;
      }
    );
  };

  /** What a saved zone covers (GET {coverage}), fetched once per saved version. */
  Planner.prototype.loadCoverage = function (zone) {
    var self = this;
    if (!this.cfg.endpoints.coverage || zone.id === null || zone.id === undefined) {
      return Promise.resolve(null);
    }
    if (!this.coverage[zone.id]) {
      var url = this.itemUrl(this.cfg.endpoints.coverage, zone.id);
      this.coverage[zone.id] = this.request("GET", url).then(
        function (data) { return data; },
        function (error) { delete self.coverage[zone.id]; return { error: error.message }; }
      );
    }
    return this.coverage[zone.id];
  };

  Planner.prototype.addFeature = function (feature) {
    if (!feature || !feature.geometry) { return null; }
    var layer = L.geoJSON(feature).getLayers()[0];
    if (!layer) { return null; }
    var props = feature.properties || {};
    layer.gzZone = {
      id: feature.id,
      name: props.name,
      units: props.units || [],
      unit_names: props.unit_names || null,
      notes: props.notes,
      created_at: props.created_at,
      updated_at: props.updated_at
    };
    this.items.addLayer(layer);
    this.decorate(layer);
    return layer;
  };

  function rowOf(table) {
    return function (label, value) {
      if (value === null || value === undefined || value === "") { return; }
      var tr = element("tr", "", table);
      element("th", "", tr, label);
      element("td", "", tr, value);
    };
  }

  /** The coverage rows of a zone's popup: border zone, hot cells, incidents, units. */
  Planner.prototype.coverageRows = function (table, data) {
    var labels = this.labels;
    var row = rowOf(table);
    if (!data) { return; }
    if (data.error) { row(labels.coverage, labels.error_prefix + ": " + data.error); return; }
    row(labels.area, GZ.formatNumber(data.zone_area_km2, 3) + " km²");
    row(labels.border_share, percent(data.border_zone_share));
    row(labels.hot_share, data.hot_cells_share === null || data.hot_cells_share === undefined
      ? labels.hot_untested
      : percent(data.hot_cells_share) + " (" + GZ.formatNumber(data.n_hot_cells, 0) + ")");
    row(labels.incidents, GZ.formatNumber(data.n_incidents_inside, 0) + " / " +
      GZ.formatNumber(data.n_incidents, 0) + " (" + percent(data.incidents_share) + ")");
    row(labels.count_basis, data.count_basis);
    row(labels.period, GZ.vietnamDate(data.from + "T00:00:00+07:00").slice(0, 10) + " – " +
      GZ.vietnamDate(data.to + "T00:00:00+07:00").slice(0, 10));
    if (data.synthetic) { element("div", "gz-badge", table.parentNode, labels.synthetic); }
  };

  Planner.prototype.popup = function (layer) {
    var self = this;
    var labels = this.labels;
    var zone = layer.gzZone;
    var div = element("div", "gz-popup gz-zone-popup");
    element("div", "gz-popup-title", div, zone.name);
    if (zone.unsaved) { element("div", "gz-badge", div, labels.unsaved); }
    var table = element("table", "gz-popup-table", div);
    var row = rowOf(table);
    var names = zone.unit_names || (zone.units || []).map(function (code) {
      return self.cfg.unit_names[code] || code;
    });
    row(labels.units, names.join(", "));
    row(labels.updated, GZ.vietnamDate(zone.updated_at));
    row(labels.notes, zone.notes);
    if (!zone.unsaved && this.cfg.endpoints.coverage) {
      var figures = element("table", "gz-popup-table gz-coverage", div);
      if (zone.coverage) {
        this.coverageRows(figures, zone.coverage);
      } else {
        element("div", "gz-legend-note", div, labels.coverage_loading);
        this.loadCoverage(zone).then(function (data) {
          zone.coverage = data;  // drawn when the popup is filled again
          if (layer.isPopupOpen()) { layer.getPopup().update(); }
        });
      }
    }
    var rename = element("button", "", div, zone.unsaved ? labels.retry : labels.rename);
    rename.type = "button";
    L.DomEvent.on(rename, "click", function () {
      var name = zone.unsaved ? zone.name : global.prompt(labels.name_prompt, zone.name);
      if (name === null) { return; }
      zone.name = String(name).trim() || zone.name;
      self.map.closePopup();
      self.save(layer);
    });
    return div;
  };

  Planner.prototype.decorate = function (layer) {
    var self = this;
    var zone = layer.gzZone;
    layer.setStyle(zone.unsaved ? this.cfg.unsaved_style : this.cfg.style);
    layer.unbindTooltip();
    layer.bindTooltip(GZ.escapeHtml(zone.name) +
      (zone.unsaved ? " (" + GZ.escapeHtml(this.labels.unsaved) + ")" : ""), { sticky: true });
    layer.unbindPopup();
    layer.bindPopup(function () { return self.popup(layer); }, { maxWidth: 360 });
  };

  global.GeozonePlanner = {
    Planner: Planner,
    escapeHtml: GZ.escapeHtml,
    init: function (map, cfg) {
      var planner = new Planner(map, cfg);
      map.gzPlanner = planner;
      return planner;
    }
  };
})(window);
