// The Engines page: a reload's progress shown live. The form's POST is sent with fetch() asking for
// NDJSON; the server answers on this same connection, one line per event (each instance's ACK, NACK or
// timeout, the rollback, the outcome), each with its row already rendered and escaped by the server.
// Without this script the form posts normally and the server answers with the whole result as a page.
(function () {
  "use strict";

  var FINAL = { applied: true, unchanged: true, rolled_back: true, refused: true };

  function show(event) {
    var where = event.phase === "started" ? "reload-what" : (FINAL[event.phase] ? "reload-outcome" : "reload-rows");
    var target = document.getElementById(where);
    if (event.phase === "started") { target.innerHTML = ""; }
    target.insertAdjacentHTML("beforeend", event.html);
  }

  function say(panel, text) {
    var outcome = document.getElementById("reload-outcome");
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = text;
    outcome.appendChild(p);
  }

  async function read(response, panel) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffered = "";
    var ended = false;
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) { break; }
      buffered += decoder.decode(chunk.value, { stream: true });
      var lines = buffered.split("\n");
      buffered = lines.pop();
      lines.forEach(function (line) {
        if (!line.trim()) { return; }
        var event = JSON.parse(line);
        show(event);
        if (FINAL[event.phase]) { ended = true; }
      });
    }
    if (!ended) { say(panel, panel.getAttribute("data-lost")); }
  }

  async function reload(form) {
    var panel = document.getElementById("reload-progress");
    var buttons = document.querySelectorAll("form[data-reload] button");
    panel.hidden = false;
    panel.setAttribute("aria-busy", "true");
    document.getElementById("reload-what").innerHTML = "";
    document.getElementById("reload-rows").innerHTML = "";
    document.getElementById("reload-outcome").innerHTML = "";
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { "Accept": "application/x-ndjson" },
        credentials: "same-origin"
      });
      var type = response.headers.get("content-type") || "";
      if (response.redirected) {
        // The reload became a change request (ADR 0026): the server sent the form to its page.
        window.location.assign(response.url);
        return;
      }
      if (type.indexOf("application/x-ndjson") === 0) {
        await read(response, panel);
      } else {
        say(panel, panel.getAttribute("data-refused") + " (" + response.status + ")");
      }
    } catch (e) {
      say(panel, panel.getAttribute("data-lost"));
    } finally {
      panel.removeAttribute("aria-busy");
      buttons.forEach(function (b) { b.disabled = false; });
      panel.scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-reload]") || !window.fetch || !window.TextDecoder) { return; }
    event.preventDefault();
    reload(form);
  });
})();
