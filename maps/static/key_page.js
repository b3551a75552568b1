/*
 * geozone: the page a browser gets for a URL that needs an API key (the report by link, an
 * export) and is not signed in (or whose session cookie did not come with a link from
 * another site: SameSite=Strict). A signed-in browser (GZ.signedIn) fetches the target with
 * its session at once; otherwise the page offers the sign-in page (/login) or asks for the
 * key. Hand-written; served from maps/static. The key is asked for once and kept in
 * sessionStorage (GZ.readKey / GZ.writeKey of geozone.js: the same entry as the map and
 * planner pages), never in a
 * URL or a cookie; the target URL (same origin) is fetched with the header "X-API-Key":
 * an HTML answer replaces this page, JSON is shown as text, anything else (CSV, zip) is
 * offered as a download. A refused key is forgotten and the reason shown, Vietnamese first.
 */
(function (global) {
  "use strict";

  var readKey = global.GZ.readKey;  // the one key entry of the tab (geozone.js)
  var writeKey = global.GZ.writeKey;
  var doc = global.document;
  var target = JSON.parse(doc.getElementById("gz-key-target").textContent).url;
  var form = doc.getElementById("gz-key-form");
  var input = doc.getElementById("gz-api-key");
  var status = doc.getElementById("gz-key-status");

  function say(kind, text) {
    status.className = "gz-" + kind;
    status.textContent = text;
  }

  function filename(response) {
    var header = response.headers.get("Content-Disposition") || "";
    var found = /filename="?([^";]+)"?/.exec(header);
    return found ? found[1] : "geozone-download";
  }

  function show(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("text/html") === 0) {
      return response.text().then(function (html) {
        doc.open();
        doc.write(html);
        doc.close();
      });
    }
    if (type.indexOf("json") >= 0) {
      return response.text().then(function (text) {
        var pre = doc.createElement("pre");
        pre.className = "gz-json";
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* as sent */ }
        pre.textContent = text;
        doc.body.appendChild(pre);
        say("done", "Đã tải / Loaded");
      });
    }
    return response.blob().then(function (blob) {
      var link = doc.createElement("a");
      link.href = global.URL.createObjectURL(blob);
      link.download = filename(response);
      link.textContent = "Tải xuống / Download: " + link.download;
      status.textContent = "";
      status.appendChild(link);
      link.click();
    });
  }

  function open(key) {
    say("info", "Đang tải… / Loading…");
    var init = global.GZ.requestInit("GET", key, {
      "Accept": "text/html, application/json;q=0.9, */*;q=0.5"
    });
    return global.fetch(target, init).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        writeKey("");
        if (!key) { global.GZ.forgetSession(); }
        doc.body.classList.remove("gz-signed-in");  // ask: sign in or give a key
        return response.json().catch(function () { return null; }).then(function (body) {
          var detail = body && typeof body.detail === "string" ? body.detail : "";
          say("error", "Khoá không được chấp nhận; nhập khoá khác / The key was refused; " +
            "enter another (" + response.status + (detail ? " " + detail : "") + ")");
          input.focus();
        });
      }
      if (!response.ok) {
        return response.text().then(function (text) {
          say("error", "Lỗi / Error: " + response.status + " " + text.slice(0, 300));
        });
      }
      return show(response);
    }, function (failure) {
      say("error", "Không kết nối được máy chủ / Cannot reach the server (" + failure.message + ")");
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var key = input.value.trim();
    input.value = "";
    if (!key) { return; }
    writeKey(key);
    global.gzKeyPage = open(key);
  });

  var signIn = doc.getElementById("gz-sign-in");
  if (signIn) { signIn.href = global.GZ.loginUrl(); }
  var known = readKey();
  if (!known && global.GZ.signedIn()) { doc.body.classList.add("gz-signed-in"); }
  // a key given in this tab, else the browser's session (signed in at /login), else ask
  global.gzKeyPage = known || global.GZ.signedIn() ? open(known) : Promise.resolve(null);
})(window);
