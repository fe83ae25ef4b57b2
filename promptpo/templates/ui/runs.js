// The runs page, live: the table is re-rendered by the server every second (its HTML is escaped there); the runs
// ticked for compare stay ticked.
setInterval(function () {
  fetch("/live/runs" + window.location.search).then(function (r) { return r.ok ? r.text() : null; })
    .then(function (text) {
      if (text === null) return;
      var ticked = Array.from(document.querySelectorAll("input[name=run]:checked")).map(function (i) { return i.value; });
      document.getElementById("live").innerHTML = text;
      ticked.forEach(function (v) {
        var box = document.querySelector("input[name=run][value='" + CSS.escape(v) + "']");
        if (box) box.checked = true;
      });
    });
}, 1000);
