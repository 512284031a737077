// Keeps "12 min left" beside each temporary change current while the page is open.
(function () {
  function words(seconds) {
    if (seconds <= 0) return "ended";
    if (seconds < 60) return "under a minute left";
    var minutes = Math.ceil(seconds / 60), hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (!hours) return minutes + " min left";
    return minutes ? hours + " h " + minutes + " min left" : hours + " h left";
  }
  // data-left: seconds left by the box's clock when the page was made.
  var loaded = Date.now();
  function tick() {
    var gone = (Date.now() - loaded) / 1000;
    document.querySelectorAll("[data-left]").forEach(function (el) {
      el.textContent = words(Number(el.dataset.left) - gone);
      el.dataset.ticking = "yes";
    });
  }
  setInterval(tick, 1000);
})();
