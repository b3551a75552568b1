/*
 * geozone: incidents on a served map for a browser user (hand-written; served from
 * maps/static). Needs Leaflet, Leaflet.markercluster, Leaflet.heat, Leaflet.glify and
 * geozone.js.
 *
 * The map page itself is public; its incidents need an analyst. A browser signed in at
 * /login fetches GET {cfg.url} with its session cookie; otherwise the page offers the sign-in
 * page or asks for the key once in the page's one key box (GZ.keyBox: kept in
 * sessionStorage, this tab only, shared with the planner page; never in a URL or a cookie)
 * and fetches with the header "X-API-Key". The answer (see
 * maps/incident_table.py incident_payload) holds the incident table drawn by
 * GZ.incidentLayer, a plain-text summary, legend items and the synthetic notice ("_html"
 * strings were escaped by the server; everything else is set with textContent). The table
 * leaves the decisions' sentences out (body.sentences "by_incident"): an incident's popup
 * fetches them from GET {cfg.incident_url}{external_id} with the same key, once.
 *
 * cfg.analytics entries (maps/analytics_layers.py loader_entries: Gi* cells, emerging trends;
 * saved patrol zones; suggested patrol zones on the planner) are fetched with the same key
 * as soon as the incidents are answered (their table built first), while the markers are
 * read and drawn, each drawn by GZ[entry.function] as soon as it arrives.
 */
(function (global) {
  "use strict";

  var GZ = global.GZ;

  function element(tag, className, parent, text) {
    var node = L.DomUtil.create(tag, className || "", parent);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function Loader(map, control, cfg) {
    this.map = map;
    this.control = control;
    this.cfg = cfg;
    this.labels = cfg.labels;
    this.layers = [];
    this.generation = 0;
    this.keys = GZ.keyBox(map, cfg.labels.key_box);  // above the incident box
    this._box();
    var self = this;
    this.keys.onChange(function () { self.ready = self.load(); return self.ready; });
    this.ready = this.load();
  }

  Loader.prototype._box = function () {
    var self = this;
    var box = L.control({ position: "topright" });
    box.onAdd = function () {
      var div = element("div", "gz-incident-box leaflet-control");
      element("div", "gz-incident-title", div, self.labels.title);
      self.status = element("div", "gz-incident-status", div);
      self.status.setAttribute("role", "status");
      self.status.setAttribute("aria-live", "polite");
      self.legend = element("div", "gz-incident-legend", div);
      self.analyticsLegend = element("div", "gz-analytics-legend", div);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    box.addTo(this.map);
    this.box = box;
    if (this.map.gzFit) { this.map.gzFit(); }  // the cluster clear of this panel too
  };

  Loader.prototype._state = function (kind, text) {
    this.status.textContent = text;
    this.status.className = "gz-incident-status gz-" + kind;
  };

  Loader.prototype.clear = function () {
    var self = this;
    this.generation += 1;  // drop answers of earlier fetches
    this.layers.forEach(function (layer) {
      self.control.removeLayer(layer);
      if (self.map.hasLayer(layer)) { self.map.removeLayer(layer); }
    });
    this.layers = [];
    this.notes = [];
    this.span = null;
    this.legend.innerHTML = "";
    this.analyticsLegend.innerHTML = "";
  };

  /** Fetch and draw the incidents and the other layers when a key is known. */
  Loader.prototype.load = function () {
    var self = this;
    this.clear();
    var key = this.keys.key;
    if (!this.keys.usable()) {
      this._state("info", this.labels.need_key);
      this.analytics = Promise.resolve(0);
      return Promise.resolve(null);
    }
    var generation = this.generation;
    this._state("info", this.labels.loading);
    // The other layers as soon as the incidents are answered (the server built their table
    // first: the first open after new data), fetched while the markers are read and drawn.
    var answered = null;
    var analytics = new Promise(function (resolve) { answered = resolve; });
    var onAnswer = function (response) { if (response.ok) { answered(true); } };
    var incidents = GZ.fetchJson(this.cfg.url, key, this.labels.network_error, onAnswer).then(
      function (body) { return generation === self.generation ? self.show(body, key) : null; },
      function (error) {
        if (generation !== self.generation) { return null; }
        var refused = error.status === 401 || error.status === 403;
        self.clear();
        self._state("error", self.labels.error_prefix + ": " + error.message);
        if (refused) { self.keys.refuse(self.labels.refused); }
        return null;
      }
    );
    incidents.then(function () { answered(false); });  // refused or failed: after it
    this.analytics = analytics.then(function () {
      return generation === self.generation ? self.loadAnalytics(key, generation) : 0;
    });
    return incidents;
  };

  /** Draw an incident_payload answer: clustered markers, heat layer, legend, notice. */
  Loader.prototype.show = function (body, key) {
    var names = this.cfg.names_html;
    if (body.data && body.sentences === "by_incident") {
      this.sentences(body.data, body.cluster_id, key);
    }
    if (body.data) {
      var group = GZ.incidentLayer(this.map, body.data, {
        unclustered_zoom: this.cfg.unclustered_zoom,
        many: this.cfg.many,  // more: heat at low zoom, WebGL points at high zoom
        points_zoom: this.cfg.points_zoom
      });
      group.addTo(this.map);
      this.control.addOverlay(group, names.incidents);
      var heat = GZ.incidentHeat(body.data, {});
      this.control.addOverlay(heat, names.heat);
      this.layers.push(group, heat);
      this.group = group;
    }
    var html = "";
    (body.legend || []).forEach(function (item) { html += GZ.legendItem(item); });
    if (body.notice_html) { html += '<div class="gz-badge">' + body.notice_html + "</div>"; }
    (body.notices_html || []).forEach(function (notice) {  // an unfinished import
      html += '<div class="gz-notice">' + notice + "</div>";
    });
    this.legend.innerHTML = html;
    this._state("done", body.summary);
    this.span = daySpan(body.data);
    var self = this;
    this.notes.forEach(function (note) { self.renderNote(note); });
    this.loaded = body;
    this.map.fire("gz:layer", { kind: "incidents", layer: this.group });
    return body.returned;
  };

  /**
   * Let the popups of table d fetch their incident's sentences: d.gzSentences(i) is a
   * promise of the {vi, en} plain texts of cluster clusterId's decision on incident i, read
   * from GET {cfg.incident_url}{external_id} (rejected with the reason when they cannot be).
   */
  Loader.prototype.sentences = function (d, clusterId, key) {
    var labels = this.labels;
    var base = this.cfg.incident_url;
    d.gzLabels = labels;
    d.gzSentences = function (i) {
      if (!base || !d.id) { return Promise.reject(new Error(labels.explain_none)); }
      var id = GZ.unescapeHtml((d.id_prefix || "") + d.id[i]);
      return GZ.fetchJson(base + encodeURIComponent(id), key, labels.network_error).then(
        function (incident) {
          var rows = (incident && incident.clusters) || [];
          for (var j = 0; j < rows.length; j++) {
            if (rows[j].cluster_id === clusterId) {
              return { vi: rows[j].explanation_vi, en: rows[j].explanation_en };
            }
          }
          throw new Error(labels.explain_none);
        }
      );
    };
  };

  /** The plain note of a hotspot layer, its period clamped to the incidents' days. */
  Loader.prototype.renderNote = function (note) {
    if (note.kind !== "gi" && note.kind !== "emerging") { return; }
    note.element.innerHTML = GZ.analysisNote(note.kind, note.props, note.names, this.span);
  };

  /** The first and last day (Vietnam time) of the incidents drawn, "yyyy-mm-dd". */
  function daySpan(d) {
    if (!d || !d.t || !d.t.length) { return null; }
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < d.t.length; i++) {
      var t = d.t[i];
      if (t >= 0) { if (t < lo) { lo = t; } if (t > hi) { hi = t; } }
    }
    if (!isFinite(lo)) { return null; }
    return [GZ.vietnamTime(d.t0 + lo).slice(0, 10), GZ.vietnamTime(d.t0 + hi).slice(0, 10)];
  }

  function legendSection(section, message) {
    var html = '<summary class="gz-legend-section">' + section.title_html + "</summary>";
    (section.items || []).forEach(function (item) { html += GZ.legendItem(item); });
    if (message) {
      html += '<div class="gz-legend-note">' + GZ.escapeHtml(message) + "</div>";
    }
    return html;
  }

  /**
   * Fetch and draw the cfg.analytics layers with the key; resolves to how many were drawn.
   * The layers shown when the page opens (Gi* cells, saved zones...) are fetched first; the
   * hidden ones (emerging trends) once those are drawn: computed on the server at the same
   * time, they would share its one interpreter with the Gi* cells and delay them.
   */
  Loader.prototype.loadAnalytics = function (key, generation) {
    var self = this;
    var drawn = 0;
    var entries = this.cfg.analytics || [];
    var fetchAll = function (some) { return Promise.all(some.map(fetchEntry)); };
    var shown = entries.filter(function (entry) { return entry.show; });
    var hidden = entries.filter(function (entry) { return !entry.show; });
    return fetchAll(shown).then(function () {
      return generation === self.generation ? fetchAll(hidden) : null;
    }).then(function () { return drawn; });

    function fetchEntry(entry) {
      return GZ.fetchJson(entry.url, key, self.labels.network_error).then(function (body) {
        if (generation !== self.generation) { return; }
        var layer = GZ[entry.function](body, entry.config);
        layer.gzKind = entry.kind;
        layer.gzCount = (body.features || []).length;
        self.control.addOverlay(layer, entry.name_html);
        if (entry.show) { layer.addTo(self.map); }
        self.layers.push(layer);
        self[entry.kind + "Layer"] = layer;
        drawn += 1;
        var note = { kind: entry.kind, props: body.properties, names: entry.config.names_html };
        var box = L.DomUtil.create("details", "gz-analytics-section", self.analyticsLegend);
        box.open = !!entry.show;  // the layers shown open; the others fold away
        box.innerHTML = legendSection(entry.legend, "");
        note.element = L.DomUtil.create("div", "gz-legend-note", box);
        self.notes.push(note);
        self.renderNote(note);
        self.map.fire("gz:layer", { kind: entry.kind, layer: layer });
      }, function (error) {
        if (generation !== self.generation) { return; }
        var failed = L.DomUtil.create("details", "gz-analytics-section", self.analyticsLegend);
        failed.open = true;
        failed.innerHTML = legendSection(
          { title_html: entry.name_html, items: [] },
          self.labels.error_prefix + ": " + error.message
        );
      });
    }
  };

  GZ.incidentLoader = function (map, control, cfg) {
    var loader = new Loader(map, control, cfg);
    map.gzIncidents = loader;
    return loader;
  };
})(window);
