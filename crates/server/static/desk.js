// The desk's clocks, ticking between the server's updates: [data-since] counts up from a
// Unix time in ms (time in the state), [data-until] counts down to one (wrap-up left).
(function () {
  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-since]").forEach(function (e) {
      e.textContent = clock(now - Number(e.dataset.since));
    });
    document.querySelectorAll("[data-until]").forEach(function (e) {
      e.textContent = clock(Number(e.dataset.until) - now);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
})();
