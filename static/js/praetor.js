/* Praetor's progressive enhancement, loaded with defer. Every page works without it: the chart's
   figures are also in a table, and forms post normally. */
(function () {
  "use strict";
  // Colours per state type; the state's name is always written beside them (never colour alone).
  var STATE_COLOURS = {
    SCHEDULED: "#b08800", PENDING: "#8c959f", RUNNING: "#0969da", COMPLETED: "#1a7f37",
    FAILED: "#cf222e", CANCELLED: "#57606a", CRASHED: "#bc4c00", PAUSED: "#8250df",
    CANCELLING: "#6e7781", NONE: "#d0d7de"
  };

  function drawRunChart() {
    var data = document.getElementById("run-chart-data");
    var canvas = document.getElementById("run-chart");
    if (!data || !canvas || typeof Chart === "undefined") { return; }
    var chart = JSON.parse(data.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: chart.series.map(function (s) {
          var name = s.state.charAt(0) + s.state.slice(1).toLowerCase();
          return { label: name, data: s.counts, backgroundColor: STATE_COLOURS[s.state] || "#57606a", stack: "runs" };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", drawRunChart);
})();
