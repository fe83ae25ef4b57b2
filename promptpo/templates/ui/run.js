// A run's page while the run goes on (the page names its live part's URL in data-live): the progress, the charts'
// data and the lineage are re-rendered by the server every second, and the charts redrawn (charts.js).
(function () {
  var progress = document.getElementById("live-progress");
  if (!progress || !progress.dataset.live) return;
  var timer = setInterval(function () {
    fetch(progress.dataset.live).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var got = document.createElement("template");
        got.innerHTML = text;
        var part = function (id) { return got.content.getElementById(id); };
        progress.replaceChildren(part("progress-part"));
        document.getElementById("chart-data").textContent = part("chart-data").textContent;
        document.getElementById("live-lineage").replaceChildren(part("lineage"));
        promptpoCharts(document.getElementById("charts"));
        if (document.getElementById("progress-part").dataset.running !== "yes") clearInterval(timer);
      });
  }, 1000);
})();
