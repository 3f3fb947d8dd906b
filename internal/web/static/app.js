// Probity dashboard: progressive enhancement only. Pages read without
// this script; it keeps eval progress live by polling the dashboard's own
// progress endpoint, and reloads a page when a run it shows ends.
"use strict";

(function () {
  const live = ["queued", "running"];

  function poll(el) {
    const url = el.getAttribute("data-progress");
    const bar = el.querySelector("progress");
    const text = el.querySelector(".progress-text");
    const status = el.querySelector(".status");
    let timer = null;

    async function tick() {
      let data;
      try {
        const res = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
        if (!res.ok) { return; }
        data = await res.json();
      } catch (e) {
        return;
      }
      bar.max = Math.max(1, data.total);
      bar.value = data.done;
      text.textContent = data.done + " / " + data.total;
      status.textContent = data.status;
      status.className = "status status-" + data.status;
      if (live.indexOf(data.status) < 0) {
        clearInterval(timer);
        // The run ended: its results and summary are on the server now.
        window.location.reload();
      }
    }
    timer = setInterval(tick, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress]").forEach(function (el) {
      if (live.indexOf(el.getAttribute("data-status")) >= 0) {
        poll(el);
      }
    });
  });
})();
