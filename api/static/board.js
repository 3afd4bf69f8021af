// Refreshes the board's panels every data-refresh seconds without reloading the page (keeps the filters).
// A session that has ended answers 401: reloading then lands on the login form.
(function () {
  "use strict";
  var panels = document.getElementById("panels");
  if (!panels) { return; }
  var seconds = parseInt(panels.getAttribute("data-refresh"), 10) || 30;
  function refresh() {
    fetch(window.location.href, { headers: { "X-Board-Fragment": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok || response.status === 422 ? response.text() : null;
      })
      .then(function (html) { if (html !== null) { panels.innerHTML = html; } })
      .catch(function () { /* offline for a moment: the next tick tries again */ })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
}());
