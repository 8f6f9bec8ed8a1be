// p2kit dashboard: refresh the page's <main> when the fleet changes. The
// server sends a "change" event (server-sent events) at most once a
// second; the page fetches itself and swaps in the new <main>. Forms
// outside <main> (filters) keep what is typed in them.
(function () {
  "use strict";
  var body = document.body;
  if (body.dataset.live !== "on" || !window.EventSource || !window.fetch) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { "X-Dashboard-Refresh": "1" }, cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (next && main) {
          // Keep <details> the operator opened.
          var open = [];
          main.querySelectorAll("details[open]").forEach(function (d, i) { open.push(i); });
          main.innerHTML = next.innerHTML;
          var all = main.querySelectorAll("details");
          open.forEach(function (i) { if (all[i]) all[i].open = true; });
          body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  // Changes after the revision the page was read at refresh it at once.
  var es = new EventSource(body.dataset.base + "events?rev=" + encodeURIComponent(body.dataset.rev || "0"));
  es.addEventListener("change", refresh);
  es.addEventListener("open", function () { body.dataset.stream = "open"; });
})();
