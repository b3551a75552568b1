/*
 * geozone: incidents on a served cluster map for a browser user (hand-written; served from
 * maps/static). Needs Leaflet, Leaflet.markercluster, Leaflet.heat and geozone.js.
 *
 * The map page itself is public; its incidents need an analyst API key. A browser cannot put
 * a header on a page navigation, so the page asks for the key once in a small box, keeps it
 * in sessionStorage (this tab only, shared with the planner page; never in a URL or a
 * cookie), and fetches GET {cfg.url} with the header "X-API-Key". The answer (see
 * maps/cluster_map.py incident_payload) holds the incident table drawn by GZ.incidentLayer,
 * a plain-text summary, legend items and the synthetic notice ("_html" strings were escaped
 * by the server; everything else is set with textContent).
 *
 * With cfg.analytics (maps/analytics_layers.py loader_entries), the same key then fetches the
 * hotspot layers (GET /clusters/{id}/hotspots: significant Gi* cells, emerging trends), drawn
 * by GZ.hotspotLayer / GZ.emergingLayer and added to the layer control with their legend.
 */
(function (global) {
  "use strict";

  var GZ = global.GZ;
  var STORAGE_KEY = "geozone.apiKey";  // the key the planner page keeps too

  function readKey() {
    try { return global.sessionStorage.getItem(STORAGE_KEY) || ""; } catch (e) { return ""; }
  }

  function writeKey(key) {
    try {
      if (key) { global.sessionStorage.setItem(STORAGE_KEY, key); }
      else { global.sessionStorage.removeItem(STORAGE_KEY); }
    } catch (e) { /* storage disabled: the key lives in memory only */ }
  }

  function element(tag, className, parent, text) {
    var node = L.DomUtil.create(tag, className || "", parent);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function problemDetail(payload) {
    if (!payload) { return ""; }
    var detail = payload.detail !== undefined ? payload.detail : payload.title;
    return typeof detail === "string" ? detail : (detail ? JSON.stringify(detail) : "");
  }

  function Loader(map, control, cfg) {
    this.map = map;
    this.control = control;
    this.cfg = cfg;
    this.labels = cfg.labels;
    this.key = readKey();
    this.layers = [];
    this._box();
    this.ready = this.load();
  }

  Loader.prototype._box = function () {
    var self = this;
    var labels = this.labels;
    var box = L.control({ position: "topright" });
    box.onAdd = function () {
      var div = element("div", "gz-incident-box leaflet-control");
      element("div", "gz-incident-title", div, labels.title);
      self.status = element("div", "gz-incident-status", div);
      self.status.setAttribute("role", "status");
      self.status.setAttribute("aria-live", "polite");
      self.legend = element("div", "gz-incident-legend", div);
      var form = element("form", "gz-key-box gz-incident-form", div);
      form.setAttribute("autocomplete", "off");
      var label = element("label", "", form, labels.key_label);
      label.htmlFor = "gz-incident-key";
      var input = element("input", "", form);
      input.id = "gz-incident-key";
      input.type = "password";
      input.name = "gz-incident-key";
      input.placeholder = labels.key_placeholder;
      input.setAttribute("autocomplete", "off");
      var show = element("button", "gz-incident-show", form, labels.show);
      show.type = "submit";
      element("div", "gz-key-state", form, labels.kept);
      var forget = element("button", "gz-incident-forget", div, labels.forget);
      forget.type = "button";
      self.form = form;
      self.input = input;
      self.forgetButton = forget;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      L.DomEvent.on(form, "submit", function (e) {
        L.DomEvent.preventDefault(e);
        var key = input.value.trim();
        input.value = "";
        if (!key) { return; }
        self.key = key;
        writeKey(key);
        self.ready = self.load();
      });
      L.DomEvent.on(forget, "click", function () {
        self.key = "";
        writeKey("");
        self.clear();
        self.ready = self.load();
      });
      return div;
    };
    box.addTo(this.map);
    this.box = box;
  };

  Loader.prototype._state = function (kind, text) {
    this.status.textContent = text;
    this.status.className = "gz-incident-status gz-" + kind;
    var keyed = !!this.key && kind !== "error";
    this.form.style.display = keyed ? "none" : "";
    this.forgetButton.style.display = this.key ? "" : "none";
  };

  Loader.prototype.clear = function () {
    var self = this;
    this.generation = (this.generation || 0) + 1;  // drop answers of earlier fetches
    this.layers.forEach(function (layer) {
      self.control.removeLayer(layer);
      if (self.map.hasLayer(layer)) { self.map.removeLayer(layer); }
    });
    this.layers = [];
    this.legend.innerHTML = "";
  };

  /** Fetch and draw the incidents when a key is known; say what is needed otherwise. */
  Loader.prototype.load = function () {
    var self = this;
    if (!this.key) {
      this._state("info", this.labels.need_key);
      return Promise.resolve(null);
    }
    this._state("info", this.labels.loading);
    var init = {
      method: "GET",
      headers: { "Accept": "application/json", "X-API-Key": this.key },
      credentials: "omit",
      cache: "no-store"
    };
    return global.fetch(this.cfg.url, init).then(
      function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (!response.ok) {
            var error = new Error(response.status + " " +
              (problemDetail(body) || response.statusText || ""));
            error.status = response.status;
            throw error;
          }
          return body;
        });
      },
      function (failure) {
        throw new Error(self.labels.network_error + " (" + failure.message + ")");
      }
    ).then(
      function (body) { return self.show(body); },
      function (error) {
        self.clear();
        var refused = error.status === 401 || error.status === 403;
        if (refused) {  // unknown, revoked or too low a role: ask again
          self.key = "";
          writeKey("");
        }
        self._state("error", self.labels.error_prefix + ": " + error.message);
        if (refused) {
          L.DomUtil.addClass(self.form, "gz-attention");
          self.input.focus();
        }
        return null;
      }
    );
  };

  /** Draw an incident_payload answer: clustered markers, heat layer, legend, notice. */
  Loader.prototype.show = function (body) {
    this.clear();
    L.DomUtil.removeClass(this.form, "gz-attention");
    var names = this.cfg.names_html;
    if (body.data) {
      var group = GZ.incidentLayer(this.map, body.data, {});
      group.addTo(this.map);
      this.control.addOverlay(group, names.incidents);
      var heat = GZ.incidentHeat(body.data, {});
      this.control.addOverlay(heat, names.heat);
      this.layers = [group, heat];
      this.group = group;
    }
    var html = "";
    (body.legend || []).forEach(function (item) { html += GZ.legendItem(item); });
    if (body.notice_html) { html += '<div class="gz-badge">' + body.notice_html + "</div>"; }
    this.legend.innerHTML = html;
    this._state("done", body.summary);
    this.loaded = body;
    this.analytics = this.loadAnalytics();
    return body.returned;
  };

  function fetchJson(url, key) {
    var init = {
      method: "GET",
      headers: { "Accept": "application/json", "X-API-Key": key },
      credentials: "omit",
      cache: "no-store"
    };
    return global.fetch(url, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) {
          throw new Error(response.status + " " + (problemDetail(body) || response.statusText));
        }
        return body;
      });
    });
  }

  function legendSection(section, message) {
    var html = '<div class="gz-legend-section">' + section.title_html + "</div>";
    (section.items || []).forEach(function (item) { html += GZ.legendItem(item); });
    if (message) {
      html += '<div class="gz-legend-note">' + GZ.escapeHtml(message) + "</div>";
    }
    return html;
  }

  /** Fetch and draw the hotspot layers (cfg.analytics) with the key; resolves to a count. */
  Loader.prototype.loadAnalytics = function () {
    var self = this;
    var entries = this.cfg.analytics || [];
    var generation = this.generation = (this.generation || 0) + 1;
    var drawn = 0;
    return Promise.all(entries.map(function (entry) {
      return fetchJson(entry.url, self.key).then(function (body) {
        if (generation !== self.generation) { return; }
        var layer = GZ[entry.function](body, entry.config);
        layer.gzKind = entry.kind;
        layer.gzCount = (body.features || []).length;
        self.control.addOverlay(layer, entry.name_html);
        if (entry.show) { layer.addTo(self.map); }
        self.layers.push(layer);
        self[entry.kind + "Layer"] = layer;
        drawn += 1;
        var message = body.properties ? body.properties.message : "";
        self.legend.insertAdjacentHTML("beforeend", legendSection(entry.legend, message));
      }, function (error) {
        if (generation !== self.generation) { return; }
        self.legend.insertAdjacentHTML("beforeend", legendSection(
          { title_html: entry.name_html, items: [] },
          self.labels.error_prefix + ": " + error.message
        ));
      });
    })).then(function () { return drawn; });
  };

  GZ.incidentLoader = function (map, control, cfg) {
    var loader = new Loader(map, control, cfg);
    map.gzIncidents = loader;
    return loader;
  };
})(window);
