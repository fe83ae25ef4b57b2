// Draws the figures a page carries as JSON (promptpo.views.charts.embed) with plotly.js, which the page loads from
// the installed plotly package. A figure keeps its zoom when the data under it is redrawn (layout.uirevision).
// A page names its charts in data attributes, so it runs no script of its own (its CSP allows none inline):
// <div data-charts="ID of the JSON block" data-empty="what to say when there is no figure">.
function promptpoCharts(container) {
  var source = document.getElementById(container.dataset.charts);
  if (!source) return;
  var text = source.textContent;
  if (container.dataset.drawn === text) return;  // nothing new: leave the chart (and any hover) alone
  container.dataset.drawn = text;
  var parsed = JSON.parse(text), wanted = {}, emptyText = container.dataset.empty;
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

function promptpoDrawAll() {
  document.querySelectorAll("[data-charts]").forEach(function (container) { promptpoCharts(container); });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", promptpoDrawAll);
else promptpoDrawAll();
