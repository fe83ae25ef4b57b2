// Draws the figures a page carries as JSON (promptpo.ui.charts.embed) with plotly.js, which the page loads from
// the installed plotly package. A figure keeps its zoom when the data under it is redrawn (layout.uirevision).
function promptpoCharts(containerId, dataId, emptyText) {
  var container = document.getElementById(containerId), source = document.getElementById(dataId);
  if (!container || !source) return;
  var text = source.textContent;
  if (container.dataset.drawn === text) return;  // nothing new: leave the chart (and any hover) alone
  container.dataset.drawn = text;
  var parsed = JSON.parse(text), wanted = {};
  parsed.figures.forEach(function (figure) {
    wanted[figure.id] = true;
    var div = document.getElementById(figure.id);
    if (!div) {
      div = document.createElement("div");
      div.id = figure.id;
      div.className = "chart";
      container.appendChild(div);
    }
    Plotly.react(div, figure.data, figure.layout, parsed.config);
  });
  Array.from(container.querySelectorAll("div.chart")).forEach(function (div) {
    if (!wanted[div.id]) { Plotly.purge(div); div.remove(); }
  });
  var empty = container.querySelector("p.no-chart");
  if (parsed.figures.length === 0 && !empty && emptyText) {
    empty = document.createElement("p");
    empty.className = "no-chart";
    empty.textContent = emptyText;
    container.appendChild(empty);
  } else if (parsed.figures.length > 0 && empty) {
    empty.remove();
  }
}
