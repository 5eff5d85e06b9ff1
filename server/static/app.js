// Live status and countdowns. Pages work without it (they refresh themselves).
"use strict";
(function () {
  function tick() {
    document.querySelectorAll(".countdown").forEach(function (el) {
      var left = Math.max(0, Number(el.dataset.expires) - Math.floor(Date.now() / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = left > 0 ? "(" + m + ":" + (s < 10 ? "0" : "") + s + " left)" : "(expired)";
    });
  }
  tick(); setInterval(tick, 1000);
  var status = document.getElementById("status");
  if (status && status.dataset.events && window.EventSource) {
    var text = status.querySelector(".status-text");
    var countdown = status.querySelector(".countdown");
    var source = new EventSource(status.dataset.events);
    source.addEventListener("state", function (e) {
      var data = JSON.parse(e.data);
      // Only the words change: the countdown stays, and screen readers hear the new text.
      if (text.textContent !== data.message) { text.textContent = data.message; }
      status.className = "status " + (data.done ? (data.ok ? "done" : "failed") : (data.warning ? "warning" : ""));
      if (data.done) {
        source.close();
        if (countdown) { countdown.remove(); }
        if (data.ok) { setTimeout(function () { window.location = status.dataset.next; }, 800); }
      }
    });
  }
})();
