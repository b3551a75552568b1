/*
 * geozone patrol-zone planner (hand-written; served from maps/static).
 * Needs Leaflet and Leaflet.draw. The HTTP contract is documented in maps/planner.py:
 *   GET    {list}            -> GeoJSON FeatureCollection of the cluster's patrol zones
 *   POST   {collection}      {"cluster_id", "name", "geometry"} -> 201 Feature
 *   PUT    {item with id}    same body -> 200 Feature
 *   DELETE {item with id}    -> 204
 * every request carrying the header "X-API-Key" once the planner has entered the key.
 * The key is kept in sessionStorage (this tab only), never in the URL.
 * Errors (problem+json "detail") are shown in a visible message box.
 * Text from the server is inserted with textContent (or escaped), never as raw HTML.
 */
(function (global) {
  "use strict";

  var STORAGE_KEY = "geozone.apiKey";
  var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(
      /[&<>"']/g,
      function (c) { return ENTITIES[c]; }
    );
  }

  function readKey() {
    try { return global.sessionStorage.getItem(STORAGE_KEY) || ""; } catch (e) { return ""; }
  }

  function writeKey(key) {
    try {
      if (key) { global.sessionStorage.setItem(STORAGE_KEY, key); }
      else { global.sessionStorage.removeItem(STORAGE_KEY); }
    } catch (e) { /* storage disabled: the key lives in memory only */ }
  }

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

  function Planner(map, cfg) {
    this.map = map;
    this.cfg = cfg;
    this.labels = cfg.labels;
    this.key = readKey();
    this.items = L.featureGroup().addTo(map);
    this._messageBox();
    this._keyBox();
    this._drawControl();
    var self = this;
    map.on(L.Draw.Event.CREATED, function (e) { self.create(e.layer); });
    map.on(L.Draw.Event.EDITED, function (e) {
      e.layers.eachLayer(function (layer) { self.save(layer); });
    });
    map.on(L.Draw.Event.DELETED, function (e) {
      e.layers.eachLayer(function (layer) { self.remove(layer); });
    });
    if (!this.key) {
      this.showKeyBox(true);
      this.info(this.labels.key_needed);
    }
    this.ready = this.load();
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

  Planner.prototype._keyBox = function () {
    var self = this;
    var labels = this.labels;
    var control = L.control({ position: "topright" });
    control.onAdd = function () {
      var form = element("form", "gz-key-box leaflet-control");
      form.setAttribute("autocomplete", "off");
      var label = element("label", "", form, labels.key_label);
      label.htmlFor = "gz-api-key";
      var input = element("input", "", form);
      input.id = "gz-api-key";
      input.type = "password";
      input.name = "gz-api-key";
      input.placeholder = labels.key_placeholder;
      input.setAttribute("autocomplete", "off");
      var save = element("button", "", form, labels.key_save);
      save.type = "submit";
      var forget = element("button", "", form, labels.key_forget);
      forget.type = "button";
      var state = element("div", "gz-key-state", form);
      self.keyInput = input;
      self.keyState = state;
      self._keyStateText();
      L.DomEvent.disableClickPropagation(form);
      L.DomEvent.on(form, "submit", function (e) {
        L.DomEvent.preventDefault(e);
        var key = input.value.trim();
        input.value = "";
        self.setKey(key);
      });
      L.DomEvent.on(forget, "click", function () { self.setKey(""); });
      return form;
    };
    control.addTo(this.map);
    this.keyControl = control;
  };

  Planner.prototype._keyStateText = function () {
    this.keyState.textContent = this.key ? this.labels.key_set : this.labels.key_unset;
  };

  Planner.prototype.showKeyBox = function (focus) {
    var form = this.keyControl.getContainer();
    if (form) { L.DomUtil.addClass(form, "gz-attention"); }
    if (focus && this.keyInput) { this.keyInput.focus(); }
  };

  Planner.prototype.setKey = function (key) {
    this.key = key;
    writeKey(key);
    this._keyStateText();
    var form = this.keyControl.getContainer();
    if (key) {
      if (form) { L.DomUtil.removeClass(form, "gz-attention"); }
      this.ready = this.load();
    } else {
      this.showKeyBox(false);
    }
    return this.ready;
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

  Planner.prototype.itemUrl = function (id) {
    return this.cfg.endpoints.item.replace("{id}", encodeURIComponent(String(id)));
  };

  Planner.prototype.request = function (method, url, body) {
    var self = this;
    var headers = { "Accept": "application/geo+json, application/json, application/problem+json" };
    if (this.key) { headers["X-API-Key"] = this.key; }
    var init = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
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
          var error = new Error(response.status + " " + detail);
          error.status = response.status;
          if (response.status === 401 || response.status === 403) {
            self.showKeyBox(true);
          }
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
    var url = creating ? this.cfg.endpoints.collection : this.itemUrl(zone.id);
    return this.request(creating ? "POST" : "PUT", url, body).then(
      function (feature) {
        self.items.removeLayer(layer);
        var added = self.addFeature(feature);
        self.info(fill(self.labels.saved, "name", zone.name));
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
    return this.request("DELETE", this.itemUrl(zone.id)).then(
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

  Planner.prototype.addFeature = function (feature) {
    if (!feature || !feature.geometry) { return null; }
    var layer = L.geoJSON(feature).getLayers()[0];
    if (!layer) { return null; }
    var props = feature.properties || {};
    layer.gzZone = {
      id: feature.id,
      name: props.name,
      units: props.units || [],
      notes: props.notes,
      created_at: props.created_at,
      updated_at: props.updated_at
    };
    this.items.addLayer(layer);
    this.decorate(layer);
    return layer;
  };

  Planner.prototype.decorate = function (layer) {
    var self = this;
    var labels = this.labels;
    var zone = layer.gzZone;
    layer.setStyle(zone.unsaved ? this.cfg.unsaved_style : this.cfg.style);
    layer.unbindTooltip();
    layer.bindTooltip(esc(zone.name) + (zone.unsaved ? " (" + esc(labels.unsaved) + ")" : ""), {
      sticky: true
    });
    layer.unbindPopup();
    layer.bindPopup(function () {
      var div = element("div", "gz-popup gz-zone-popup");
      element("div", "gz-popup-title", div, zone.name);
      if (zone.unsaved) { element("div", "gz-badge", div, labels.unsaved); }
      var table = element("table", "gz-popup-table", div);
      function row(label, value) {
        if (value === null || value === undefined || value === "") { return; }
        var tr = element("tr", "", table);
        element("th", "", tr, label);
        element("td", "", tr, value);
      }
      row(labels.units, (zone.units || []).join(", "));
      row(labels.updated, zone.updated_at);
      row(labels.notes, zone.notes);
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
    });
  };

  global.GeozonePlanner = {
    Planner: Planner,
    escapeHtml: esc,
    init: function (map, cfg) {
      var planner = new Planner(map, cfg);
      map.gzPlanner = planner;
      return planner;
    }
  };
})(window);
